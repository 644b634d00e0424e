"""HTTP clients of the load test and the record of every request they make."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from tests.stack import LOCKED, PROXY_HEADERS

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class _BrowserBehindTlsProxy(requests.Session):
    """The browser talks https to the proxy, so it sends ``Secure`` cookies back; this
    session stands for browser and proxy together and talks plain http on loopback, so it
    sends them regardless of their ``Secure`` flag."""

    def prepare_request(self, request):
        for cookie in self.cookies:
            cookie.secure = False
        return super().prepare_request(request)


def web_session(base_url: str) -> requests.Session:
    """A browser-like session against a stack: the TLS proxy's header on every request,
    ``Secure`` cookies sent back, and Origin/Referer as a browser sends them on https."""
    session = _BrowserBehindTlsProxy()
    host = urlsplit(base_url).netloc
    session.headers.update({**PROXY_HEADERS, "Origin": f"https://{host}"})
    return session


def api_session(secret: str) -> requests.Session:
    """A partner tool's session: its token on every request, through the TLS proxy."""
    session = requests.Session()
    session.headers.update({**PROXY_HEADERS, "Authorization": f"Token {secret}"})
    return session


def csrf_token(html: str) -> str | None:
    match = CSRF_RE.search(html)
    return match.group(1) if match else None


def _gist(body: str) -> str:
    """What a failure's body says: a page's error messages (a form sent back), else its
    start."""
    errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', body, re.S)
    parts = [re.sub(r"<[^>]+>", " ", item) for item in errors] or [body[:300]]
    text = " | ".join(parts)
    return " ".join(text.split())[:500]


@dataclass(frozen=True)
class Sample:
    """One request: when it started (seconds into the run), what, its status (0: no
    response: a timeout or a refused connection), how long it took (seconds)."""

    at: float
    method: str
    endpoint: str
    status: int
    latency: float


@dataclass(frozen=True)
class Problem:
    endpoint: str
    status: int
    detail: str


class Recorder:
    """Thread-safe record of the run's requests, and of anything wrong in their answers."""

    def __init__(self, *, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.started = time.monotonic()
        self.samples: list[Sample] = []
        self.problems: list[Problem] = []
        self.locked: list[Problem] = []
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def request(
        self,
        session: requests.Session,
        method: str,
        endpoint: str,
        path: str,
        *,
        expect: tuple[int, ...],
        referer: str | None = None,
        **kwargs,
    ) -> requests.Response | None:
        """Make the request (no redirect followed), record it; ``None`` when no response
        came. A status not in ``expect`` is recorded as a problem with the body's start."""
        url = path if path.startswith("http") else self.base_url + path
        headers = kwargs.pop("headers", {})
        if referer:
            headers["Referer"] = "https://" + urlsplit(self.base_url).netloc + referer
        at = self.elapsed()
        start = time.perf_counter()
        try:
            response = session.request(
                method,
                url,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                **kwargs,
            )
            body = response.text
        except requests.RequestException as exc:
            latency = time.perf_counter() - start
            with self._lock:
                self.samples.append(Sample(at, method, endpoint, 0, latency))
                self.problems.append(Problem(endpoint, 0, f"{type(exc).__name__}: {exc}"[:300]))
            return None
        latency = time.perf_counter() - start
        with self._lock:
            self.samples.append(Sample(at, method, endpoint, response.status_code, latency))
            if response.status_code not in expect:
                self.problems.append(Problem(endpoint, response.status_code, _gist(body)))
            if LOCKED in body:
                self.locked.append(Problem(endpoint, response.status_code, LOCKED))
        return response

    def snapshot(self) -> tuple[int, int]:
        """(requests so far, problems so far)."""
        with self._lock:
            return len(self.samples), len(self.problems)
