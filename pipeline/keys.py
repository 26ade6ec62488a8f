"""Every Redis key and stream name newsflow uses, all under ``newsflow:``.

No other module builds key strings; tests import names from here too.
"""

from __future__ import annotations

import hashlib

PREFIX = "newsflow:"

ARTICLES_STREAM = "newsflow:articles"
"""Published articles (stream entry contract v1, see pipeline/schemas/)."""
EVENTS_STREAM = "newsflow:events"
"""Terminal non-published outcomes: duplicate (with what it duplicates) and dropped (reason)."""
DEAD_STREAM = "newsflow:dead"
"""Dead letters: retries exhausted or worker lost too often, with the error."""
OUTCOME_COUNTS = "newsflow:stats:outcomes"
"""Hash: outcome name -> count, over all feeds."""
ENQUEUED_COUNT = "newsflow:stats:enqueued"
"""Counter: distinct entries ever enqueued (each ends in exactly one outcome)."""
FEEDS_STATE_PREFIX = "newsflow:feed:"
FEED_REGISTRY = "newsflow:feeds"
"""Hash: feed URL -> feed settings (JSON): the feeds the poller polls."""
FEED_MOVES = "newsflow:feeds:moved"
"""Hash: old feed URL -> the URL it moved to for good (301/308); configured feeds that
moved are not registered again under their old URL."""
FEED_SCHEDULE = "newsflow:schedule"
"""Sorted set: feed URL -> its next poll time (unix seconds)."""
POLLER_LEASE = "newsflow:poller:lock"
"""String key: the poller process allowed to poll now (a lease renewed while it runs)."""
POLLER_ROUNDS = "newsflow:poller:rounds"
"""Counter: poll rounds run by the active poller (each takes due feeds once)."""
POLLER_HEARTBEAT_PREFIX = "newsflow:poller:alive:"
"""``newsflow:poller:alive:<owner>``: string key, ``active`` or ``standby``, written by every
poller process (owner ``<hostname>-<pid>``) each time its loop renews or asks for the lease,
expiring after ``poller.lease_ttl_s``: a poller whose loop stopped drops out by itself."""


def poller_heartbeat(owner: str) -> str:
    """String key: the heartbeat of one poller process (see ``POLLER_HEARTBEAT_PREFIX``)."""
    return f"{POLLER_HEARTBEAT_PREFIX}{owner}"


CELERY_KEY_PREFIX = "newsflow:q:"
"""kombu ``global_keyprefix``: every Celery queue key lives below it."""
CELERY_QUEUE = "newsflow.articles"
TASK_QUEUE = CELERY_KEY_PREFIX + CELERY_QUEUE
"""List: the tasks waiting for a worker (the broker's queue, as kombu names it)."""


def digest(text: str) -> str:
    """Hex sha256 of text: the stable id used in keys, task ids and article ids."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


SENT_ENTRIES = "newsflow:sent"
"""Sorted set: entry id -> when it was sent to the workers; removed with its outcome
(the ledger behind the end-to-end check that no entry is lost, pipeline.polling.ledger)."""
SENT_MESSAGES = "newsflow:sent:msg"
"""Hash: entry id -> the task message it was sent with (to send it again)."""


def url_outcome(url_id: str) -> str:
    """String key: the terminal outcome recorded for a canonical URL (its id)."""
    return f"newsflow:url:{url_id}"


def enqueued_marker(url_id: str) -> str:
    """String key: set once when an entry is first enqueued (accounting)."""
    return f"newsflow:enq:{url_id}"


def content_fingerprint(fingerprint: str) -> str:
    """String key: the article id that first published this exact body text."""
    return f"newsflow:fp:{fingerprint}"


def host_schedule(host: str) -> str:
    """String key: the next time (ms) a request to ``host`` may start (GCRA rate limit)."""
    return f"newsflow:host:{host}:next"


def host_slots(host: str) -> str:
    """Sorted set: requests in flight to ``host``, scored by lease expiry (ms)."""
    return f"newsflow:host:{host}:slots"


def host_cooldown(host: str) -> str:
    """String key: no request to ``host`` before this time (ms): set by 429/503 Retry-After."""
    return f"newsflow:host:{host}:cooldown"


def robots(origin: str) -> str:
    """String key: the robots.txt body of an origin (scheme://host:port), or a status marker."""
    return f"newsflow:robots:{digest(origin)}"


def robots_lock(origin: str) -> str:
    """String key: held by the one process fetching an origin's robots.txt."""
    return f"newsflow:robots:{digest(origin)}:lock"


def article_record(article_id: str) -> str:
    """Hash: the version and field digests of a published article (for updates)."""
    return f"newsflow:article:{article_id}"


def near_duplicate_anchor(anchor: str) -> str:
    """String key of the near-duplicate index before #19 (no longer written or read: such
    keys expire by their TTL): ``<article id>:<its anchor count>``."""
    return f"newsflow:nd:{anchor}"


def near_duplicate_bucket(number: int) -> str:
    """Hash: the near-duplicate index of one time bucket (``dedupe_ttl_s`` long, numbered
    from the epoch): shingle hash -> story, story -> signature (see pipeline/publish.lua)."""
    return f"newsflow:ndb:{number}"


def feed_state(feed_url: str) -> str:
    """Hash key: a feed's poll state (validators, last poll, status, counters)."""
    return f"{FEEDS_STATE_PREFIX}{digest(feed_url)}"


def feed_seen(feed_url: str) -> str:
    """Hash key: entry key -> ``<updated marker>|<first seen>`` for entries already enqueued."""
    return f"{FEEDS_STATE_PREFIX}{digest(feed_url)}:seen"


def feed_outcomes(feed_url: str) -> str:
    """Hash key: outcome name -> count for one feed."""
    return f"{FEEDS_STATE_PREFIX}{digest(feed_url)}:outcomes"


def sitemap_children(feed_url: str) -> str:
    """Hash key: child sitemap URL -> JSON of what the feed's sitemap index says of it
    (position, ``<lastmod>``) and the validators (ETag, Last-Modified, content hash) of its
    last body whose entries were enqueued."""
    return f"{FEEDS_STATE_PREFIX}{digest(feed_url)}:children"


WEBSUB_FEEDS = "newsflow:websub:feeds"
"""Hash: feed URL -> the id of its current WebSub subscription (pipeline.polling.websub)."""
WEBSUB_LIVE = "newsflow:websub:live"
"""Sorted set: feed URL -> when the lease of its verified WebSub subscription ends (unix
seconds); while it is in the future the feed is polled at ``websub.fallback_interval_s``."""
WEBSUB_DUE = "newsflow:websub:due"
"""Sorted set: feed URL -> when its WebSub subscription's next request is due (unix seconds):
to send again, or to renew; only subscriptions being requested or verified are in it."""
WEBSUB_ALIVE = "newsflow:websub:alive"
"""String key with a TTL, written every few seconds by each running ``newsflow websub``:
while none runs, nobody receives pushes and feeds are polled at their normal interval."""


def websub_subscription(subscription_id: str) -> str:
    """Hash key: one WebSub subscription (hub, topic, secret, state, lease), by the id that
    ends its callback URL."""
    return f"newsflow:websub:sub:{subscription_id}"


def websub_lock(feed_url: str) -> str:
    """String key: held (NX, with a TTL) by the process sending a feed's WebSub request."""
    return f"newsflow:websub:lock:{digest(feed_url)}"


REEXTRACT_PREFIX = "newsflow:reextract:"
"""``newsflow reextract`` runs, by run id (a digest of their --since/--until/--source)."""


def reextract_checkpoint(run_id: str) -> str:
    """Hash: a reextract run's checkpoint (phase, archive file and offset reached, counts)."""
    return f"{REEXTRACT_PREFIX}{run_id}"


def reextract_latest(run_id: str) -> str:
    """Hash: article id -> where the archive holds its latest page (``<fetch time>|<file>|
    <offset>``): only that page is extracted again, never an older version over a newer one."""
    return f"{REEXTRACT_PREFIX}{run_id}:latest"


DRIFT_ALARMS = "newsflow:drift:alarms"
"""Hash: ``<source>|<signal>`` -> JSON of a source's live drift alarm (pipeline.ops.drift)."""


def drift_window(source: str, which: str) -> str:
    """Hash: a source's drift counts: ``cur`` (filling), ``last`` (the window just closed) or
    ``base`` (the decayed sum of the windows before it)."""
    return f"newsflow:drift:{source}:{which}"


POLLER_LAG_HOLDS = "newsflow:poller:lag_holds"
"""Counter: poll rounds skipped because a group of ``poller.lag_groups`` lagged too far."""
