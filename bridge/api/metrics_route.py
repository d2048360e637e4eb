"""GET /metrics for Prometheus, and the API's own request metrics.

The scraper sends `Authorization: Bearer <metrics_token>` (a setting that `scripts/up`
generates; without it /metrics is off). The token reaches only the metrics, which never
name a call, a number or a user: it is not a tenant's token, and a tenant's token does
not reach them.
"""

from __future__ import annotations

import hmac
import time

from flask import Blueprint, Response, g, request

from bridge import metrics
from bridge.api.deps import current_deps
from bridge.api.security_log import TOKEN_ENDPOINTS

metrics_blueprint = Blueprint("metrics", __name__)
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)
LOGIN_REFUSALS = (400, 401, 429)


@metrics_blueprint.get("/metrics")
def scrape() -> Response:
    token = current_deps().settings.metrics_token
    if not token:
        return _refused("metrics are off: set metrics_token (RINGBRIDGE_METRICS_TOKEN)")
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return _refused("the metrics token is missing or wrong")
    return Response(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


def _refused(message: str) -> Response:
    return Response(f"{message}\n", status=401, content_type="text/plain; charset=utf-8",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


def started() -> None:
    """before_request: when the request began."""
    g.metrics_started = time.perf_counter()


def counted(response: Response) -> Response:
    """after_request: the request, by route template (never its ids), and a refused
    token request as a login failure."""
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    status = response.status_code
    metrics.API_REQUESTS.labels(route, request.method, str(status)).inc()
    began = g.get("metrics_started")
    if began is not None:
        metrics.API_LATENCY.labels(route, request.method).observe(
            time.perf_counter() - began)
    if request.path in TOKEN_ENDPOINTS and status in LOGIN_REFUSALS:
        metrics.LOGIN_FAILURES.labels(request.path, str(status)).inc()
    return response
