"""The callback service in this process, against the test Redis: bad input never stops it."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis

from pipeline.polling.subscriber import change_subscription
from pipeline.polling.subscription import Subscription, Verdict
from pipeline.settings import FetchSettings, Settings, WebSubSettings
from workers.websub import MAX_CONCURRENT, CallbackServer

FEED = "https://news.example/feed.xml"


@pytest.fixture
def service_settings(settings: Settings) -> Settings:
    return settings.replace(
        fetch=FetchSettings(
            allow=("127.0.0.0/8",), max_feed_bytes=1000, deadline_s=1.0, read_timeout_s=0.5
        ),
        websub=WebSubSettings(callback_url="http://127.0.0.1:1/websub"),
    )


def _serve(settings: Settings, client: redis.Redis) -> Iterator[tuple[str, int]]:
    server = CallbackServer(
        ("127.0.0.1", 0), settings=settings, client=client, wake=threading.Event()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def service(service_settings: Settings, redis_client: redis.Redis) -> Iterator[tuple[str, int]]:
    yield from _serve(service_settings, redis_client)


def exchange(address: tuple[str, int], raw: bytes) -> bytes:
    """Send raw bytes, read the whole answer (HTTP/1.0: the service closes)."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def healthy(address: tuple[str, int]) -> bool:
    return exchange(address, b"GET /healthz HTTP/1.0\r\n\r\n").endswith(b"\r\n\r\nok")


SUB_PATH = "/websub/" + "a" * 32


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"POST /websub/x HTTP/1.0\r\n\r\n", 411),
        (f"POST {SUB_PATH} HTTP/1.0\r\nContent-Length: abc\r\n\r\n".encode(), 411),
        (f"POST {SUB_PATH} HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode(), 411),
        (f"POST {SUB_PATH} HTTP/1.0\r\nContent-Length: 1001\r\n\r\n".encode(), 413),
        (f"POST {SUB_PATH} HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi".encode(), 404),
        (f"GET {SUB_PATH} HTTP/1.0\r\n\r\n".encode(), 400),  # no hub.mode: not WebSub
        (b"GET /websub?hub.mode=subscribe&hub.topic=x HTTP/1.0\r\n\r\n", 404),  # no id
        (f"GET {SUB_PATH}?{'&'.join(['a=1'] * 60)} HTTP/1.0\r\n\r\n".encode(), 400),
        (b"GET /a b HTTP/1.0\r\n\r\n", 400),
        (b"PUT /websub HTTP/1.0\r\n\r\n", 501),
        (b"GET /" + b"x" * 70_000 + b" HTTP/1.0\r\n\r\n", 414),
    ],
)
def test_bad_requests_get_an_answer_and_the_service_goes_on(
    service: tuple[str, int], raw: bytes, expected: int
) -> None:
    assert status(exchange(service, raw)) == expected
    assert healthy(service)


def test_content_for_no_subscription_is_refused_before_its_body(
    service: tuple[str, int],
) -> None:
    started = time.monotonic()
    with socket.create_connection(service, timeout=5) as sock:
        sock.sendall(f"POST {SUB_PATH} HTTP/1.0\r\nContent-Length: 100\r\n\r\n".encode())
        answer = sock.recv(65536)  # the 100 bytes are never sent
    assert status(answer) == 404
    assert time.monotonic() - started < 0.5


def test_a_dripped_body_ends_in_408(
    service: tuple[str, int], redis_client: redis.Redis, service_settings: Settings
) -> None:
    sub = dataclasses.replace(
        Subscription.new(FEED, "https://h.example/", FEED, callback_base="http://x/websub"),
        state="active",
    )
    change_subscription(redis_client, sub.id, lambda current: Verdict(status=200, record=sub))
    started = time.monotonic()
    with socket.create_connection(service, timeout=5) as sock:
        sock.sendall(f"POST /websub/{sub.id} HTTP/1.0\r\nContent-Length: 100\r\n\r\n".encode())
        for _ in range(8):  # a byte every 0.3 s: each read is in time, the whole is not
            time.sleep(0.3)
            try:
                sock.sendall(b"x")
            except OSError:
                break
        answer = sock.recv(65536)
    assert status(answer) == 408
    assert time.monotonic() - started < 3
    assert healthy(service)


def test_a_challenge_is_echoed_byte_for_byte(
    service: tuple[str, int], redis_client: redis.Redis
) -> None:
    sub = Subscription.new(FEED, "https://h.example/", FEED, callback_base="http://x/websub")
    change_subscription(redis_client, sub.id, lambda current: Verdict(status=200, record=sub))
    challenge = "%FF%FEz%20%E2%82%AC"
    query = f"hub.mode=subscribe&hub.topic={quote(FEED, safe='')}&hub.challenge={challenge}"
    answer = exchange(service, f"GET /websub/{sub.id}?{query} HTTP/1.0\r\n\r\n".encode())
    assert status(answer) == 200
    assert answer.split(b"\r\n\r\n", 1)[1] == b"\xff\xfez \xe2\x82\xac"


def test_more_requests_than_the_limit_are_turned_away(
    service_settings: Settings, redis_client: redis.Redis
) -> None:
    patient = service_settings.replace(
        fetch=dataclasses.replace(service_settings.fetch, read_timeout_s=30.0, deadline_s=30.0)
    )
    for address in _serve(patient, redis_client):
        stalled = [socket.create_connection(address, timeout=5) for _ in range(MAX_CONCURRENT)]
        try:
            for sock in stalled:
                sock.sendall(b"GET /healthz HTTP/1.0\r\n")  # headers never end: a slot held
            time.sleep(0.2)
            answer = exchange(address, b"GET /healthz HTTP/1.0\r\n\r\n")
            assert status(answer) == 503 and b"Retry-After: 5" in answer
        finally:
            for sock in stalled:
                sock.close()  # their reads end: the slots come back
        deadline = time.monotonic() + 5
        while not healthy(address) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert healthy(address)


def test_redis_down_is_503_so_the_hub_tries_again(service_settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = redis.Redis(port=port, socket_connect_timeout=0.5)
    for address in _serve(service_settings, down):
        query = "hub.mode=subscribe&hub.topic=x&hub.challenge=c HTTP/1.0\r\n\r\n"
        answer = exchange(address, f"GET {SUB_PATH}?{query}".encode())
        assert status(answer) == 503
        assert healthy(address)
