"""Every error newsflow raises, grouped by what the caller should do about it.

    PipelineError                  root: carries the URL it is about (may be "")
    ├── RetryableError             transient: try the same work again later
    │   ├── FetchTimeout           no response by the deadline, or the body stalled
    │   ├── UpstreamUnavailable    connection failure, 5xx or 429 from the origin
    │   ├── HostThrottled          the host's shared rate limit or cooldown says "later"
    │   └── RedisUnavailable       Redis could not be reached or refused the write
    ├── DropArticle                permanent for this URL: record the reason, never retry
    │   ├── BlockedDestination     the SSRF guard refused the address or scheme
    │   ├── BlockedByRobots        the site's robots.txt disallows the URL
    │   ├── FetchRefused           4xx (not 429), wrong content type, body too large,
    │   │   │                      too many redirects
    │   │   └── UndecodableBody    a corrupt Content-Encoding, or more than 5 stacked
    │   ├── TooSlow                headers came, the body did not finish by the deadline
    │   ├── NotAnArticle           the page has no article (empty, too short, listing)
    │   ├── ExtractionFailed       the extractor crashed or gave up on this page
    │   ├── PageTooComplex         too many elements, too deep or too wide to extract
    │   └── TaskTimeLimit          the whole task ran past its soft time limit
    ├── FeedError                  a feed could not be fetched or parsed (poller logs it)
    ├── ArchiveError               the raw page archive could not be written or read
    └── ConfigError                bad configuration: the process must not start

The ``reason`` class attribute is the short machine-readable code recorded in outcome
entries (``dropped`` events and dead letters).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class of every newsflow error."""

    reason = "error"

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.url})" if self.url else self.message


class RetryableError(PipelineError):
    """Transient failure: the same work may succeed later."""

    reason = "retryable"


class FetchTimeout(RetryableError):
    """No response headers by the fetch deadline, or no body byte for ``read_timeout_s``."""

    reason = "fetch_timeout"


class UpstreamUnavailable(RetryableError):
    """Connection refused or reset, 5xx, or 429 from the origin."""

    reason = "upstream_unavailable"

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after
        self.status = status


class HostThrottled(RetryableError):
    """The host may not be fetched now (rate limit, concurrency cap or Retry-After cooldown)."""

    reason = "host_throttled"

    def __init__(self, message: str, *, url: str = "", retry_after: float) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after


class RedisUnavailable(RetryableError):
    """Redis could not be reached, timed out, or refused a write."""

    reason = "redis_unavailable"


class DropArticle(PipelineError):
    """Permanent failure for this URL: record the reason and move on."""

    reason = "dropped"


class BlockedDestination(DropArticle):
    """The URL or one of its redirects points at a refused scheme, port or address."""

    reason = "blocked_destination"


class BlockedByRobots(DropArticle):
    """The site's robots.txt disallows fetching this URL for our user agent."""

    reason = "blocked_by_robots"


class FetchRefused(DropArticle):
    """The origin answered, but with something we will never accept (4xx, type, size)."""

    reason = "fetch_refused"

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message, url=url)
        self.status = status
        """The HTTP status when the refusal is the status itself (a 4xx), else None."""


class UndecodableBody(FetchRefused):
    """The body's Content-Encoding is corrupt, or more codings are stacked than we decode."""

    reason = "undecodable_body"


class TooSlow(DropArticle):
    """The origin sent its headers but not the whole body within the fetch deadline."""

    reason = "too_slow"


class NotAnArticle(DropArticle):
    """The page holds no article: empty, too short, a login/consent/bot wall, or a listing."""

    reason = "not_an_article"

    def __init__(self, message: str, *, url: str = "", check: str = "no_text") -> None:
        super().__init__(message, url=url)
        self.check = check
        """Which quality check failed: no_text, too_short, wall or listing."""


class ExtractionFailed(DropArticle):
    """The extractor raised or returned nothing usable for this page."""

    reason = "extraction_failed"


class PageTooComplex(DropArticle):
    """The page's markup is far larger or deeper than any real page's (refused unextracted)."""

    reason = "page_too_complex"


class TaskTimeLimit(DropArticle):
    """The task ran past its soft time limit (a page too slow to extract, most often)."""

    reason = "time_limit"


class FeedError(PipelineError):
    """A feed could not be fetched or parsed; the poller logs it and goes on."""

    reason = "feed_error"


class ArchiveError(PipelineError):
    """The raw page archive could not be written or read (the article itself goes on)."""

    reason = "archive_error"


class ConfigError(PipelineError):
    """The configuration is invalid; the process must refuse to start."""

    reason = "config_error"
