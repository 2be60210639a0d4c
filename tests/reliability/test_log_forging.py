"""Probe: log forging. A request path with %0a wrote a second, fake line into the service log (the
access log prints the decoded path). Everything the service logs has its control characters (C0, C1,
DEL, U+2028/U+2029) escaped, so one event is always one line."""

from __future__ import annotations

import logging

import pytest

from srllm.serve.logs import escape_controls, service_log

FORGED = "2030-01-01 00:00:00 INFO srllm.serve: admin logged in"


def _service_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "srllm.serve"]


def test_a_newline_in_the_request_path_stays_on_one_log_line(job_client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="srllm.serve"):
        job_client.get(f"/v1/jobs/x%0a{FORGED}%0d%1b[2J")
    access = [line for line in _service_lines(caplog) if "GET" in line]
    assert access, _service_lines(caplog)
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in access)
    assert any("\\n" + FORGED + "\\r\\x1b[2J" in line for line in access)


def test_every_service_record_is_escaped(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="srllm.serve"):
        service_log().info("job %s: %s", "id\nfake", "tab\there\x85next\u2028end\x7f")
    [message] = _service_lines(caplog)
    assert message == "job id\\nfake: tab\\there\\x85next\\u2028end\\x7f"


def test_plain_text_is_left_alone() -> None:
    assert escape_controls("GET /v1/jobs 200 1.2ms client:127.0.0.1 é ü 中") == \
        "GET /v1/jobs 200 1.2ms client:127.0.0.1 é ü 中"
