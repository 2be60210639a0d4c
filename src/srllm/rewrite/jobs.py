"""Resumable file jobs: rewrite every row of a file, never lose or duplicate a row.

Results are appended (fsync'd as each row finishes, with `streamed`; per batch with `batched`) to
`<output>.partial.jsonl`; the output file itself
is written once, atomically, when every row is done. A run killed at any point (Ctrl-C,
kill -9) continues with `resume=True`, rewriting only the rows missing from the partial file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srllm.errors import InputError
from srllm.lines import split_lines
from srllm.provenance import file_sha256
from srllm.rewrite.inputs import InputRow, read_rows
from srllm.text.readers import Problem
from srllm.text.writers import NESTED_FORMATS, output_format, write_rows

RESULT_FIELDS = ("rewrite", "model", "adapter", "method", "prompt_version")
# Set by the guard (srllm.rewrite.guard): ok | unchanged | flagged | skipped, the scores and why.
GUARD_FIELDS = ("status", "scores", "reasons", "spans")
# A rewrite keeps the input's facts, so one under a quarter of a long input's length was most likely
# cut off (the answer cap) rather than condensed; short inputs may legitimately shrink a lot.
SHORT_REWRITE_RATIO = 0.25
SHORT_REWRITE_MIN_INPUT = 1000  # characters


@dataclass
class JobReport:
    output: Path
    rows_total: int
    rows_done_before: int
    rows_rewritten: int
    errors: list[Problem] = field(default_factory=list)
    errors_path: Path | None = None
    statuses: dict[str, int] = field(default_factory=dict)  # guard status -> rows, this run


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.jsonl")


def default_errors_path(output: Path) -> Path:
    return output.with_name(output.name + ".errors.jsonl")


def manifest_path(output: Path) -> Path:
    """Written beside a finished output: which input (SHA-256) it was made from, so --resume can tell."""
    return output.with_name(output.name + ".job.json")


def written_paths(output: Path, errors_path: Path | None = None) -> dict[str, Path]:
    """Every file a job writes, by what the user knows it as (for the messages)."""
    return {"--output": output, "--errors-file": errors_path or default_errors_path(output),
            "the partial file": partial_path(output), "the job file": manifest_path(output)}


def same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:  # a hardlink (or a bind mount) resolves to another name but is the same inode
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet, so they are not one file
        return False


def check_job_paths(input_path: str | Path, output: str | Path, errors_path: str | Path | None = None) -> None:
    """Refuse a job whose input and written files are not all distinct files (symlinks and hardlinks
    included): one write would destroy another file, the input first of all. Cheap: run it first."""
    named = [("--input", Path(input_path)),
             *written_paths(Path(output), Path(errors_path) if errors_path else None).items()]
    for i, (first_name, first) in enumerate(named):
        for name, path in named[i + 1:]:
            if same_file(first, path):
                why = ("the input is never modified, so a file the job writes must not be the input file"
                       if first_name == "--input" else "one would overwrite the other")
                raise InputError(f"{name} {path} is the same file as {first_name} {first}; {why}. "
                                 "Choose another path", path=str(path))


def check_job_output(output: str | Path, errors_path: str | Path | None = None, *, resume: bool,
                     overwrite: bool) -> str:
    """Refuse a job whose output format is unknown, whose files cannot be written, or that would
    replace a finished or interrupted run without --overwrite/--resume. Cheap: run it before a model
    loads. The output format."""
    output = Path(output)
    fmt = output_format(output)
    for name, path in written_paths(output, Path(errors_path) if errors_path else None).items():
        folder = path.parent
        if not folder.is_dir():
            raise InputError(f"{name}: the folder {folder} does not exist; create it first", path=str(path))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"{name}: cannot write into the folder {folder} (permission denied)", path=str(path))
    if overwrite or resume:
        return fmt
    if partial_path(output).exists():
        raise InputError(f"an interrupted run left {partial_path(output)}; pass --resume to continue it or "
                         "--overwrite to start over", path=str(output))
    if output.exists():
        raise InputError("already exists; pass --overwrite to replace it", path=str(output))
    return fmt


def _load_partial(path: Path, input_hash: str, input_path: Path) -> dict[int, dict[str, Any]]:
    """Rows already done; a torn last line from a kill is cut off."""
    done: dict[int, dict[str, Any]] = {}
    with open(path, "rb+") as handle:
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            handle.truncate(keep)
    lines = split_lines(data[:keep].decode("utf-8"))
    if not lines:
        return done
    header = json.loads(lines[0]).get("_srllm_job", {})
    if header.get("input_sha256") != input_hash:
        raise InputError(
            f"the interrupted run in {path} was made from a different version of the input; "
            "use --overwrite to start over", path=str(input_path),
        )
    for raw in lines[1:]:
        record = json.loads(raw)
        done[int(record["_row"])] = record
    return done


def _check_finished(output: Path, input_hash: str, input_path: Path) -> None:
    """A finished output is current only if it was made from this very input (like the partial file's check)."""
    try:
        made_from = json.loads(manifest_path(output).read_text(encoding="utf-8")).get("input_sha256")
    except (OSError, ValueError, AttributeError):
        raise InputError(f"cannot tell which input {output} was made from ({manifest_path(output).name} is "
                         "missing or unreadable); use --overwrite to rewrite every row", path=str(output)) from None
    if made_from != input_hash:
        raise InputError(f"the input has changed since {output} was finished; use --overwrite to rewrite "
                         "every row into a fresh output", path=str(input_path))


def _finish(output: Path, final: list[dict[str, Any]], out_fmt: str, input_path: Path, input_hash: str,
            csv_escape: bool) -> None:
    """Output, then its job file, then drop the partial: a kill in between leaves a resumable state."""
    write_rows(output, final if out_fmt in NESTED_FORMATS else [_flat(row) for row in final], out_fmt,
               csv_escape=csv_escape)
    record = {"input": str(input_path), "input_sha256": input_hash, "rows": len(final)}
    write_rows(manifest_path(output), [record], "jsonl")
    partial_path(output).unlink(missing_ok=True)


def _append(handle: Any, records: Sequence[dict[str, Any]]) -> None:
    handle.write("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    handle.flush()
    os.fsync(handle.fileno())


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV cell holds text: scores and spans become JSON, reasons one '; '-joined line."""
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            out[key] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, list):
            out[key] = "; ".join(str(item) for item in value)
    return out


def _result_row(row: InputRow, result: Any, id_field: str | None) -> dict[str, Any]:
    out = dict(row.fields)
    out.setdefault(id_field or "id", row.id)
    out.update({name: getattr(result, name) for name in RESULT_FIELDS})
    # Guarded results carry these; a plain Rewriter's do not, and its rows stay as they were.
    out.update({name: getattr(result, name) for name in GUARD_FIELDS if hasattr(result, name)})
    _flag_if_short(out, row.text)
    return out


def short_rewrite_reason(text: str, rewrite: str | None) -> str | None:
    """Why a rewrite looks cut off (far shorter than its long input), or None."""
    if len(text) < SHORT_REWRITE_MIN_INPUT or rewrite is None or len(rewrite) >= SHORT_REWRITE_RATIO * len(text):
        return None
    return (f"the rewrite is implausibly short: {len(rewrite)} characters for an input of {len(text)}; it was "
            "probably cut off at the answer limit. Review it, or rewrite the text with --chunk or split it")


def _flag_if_short(out: dict[str, Any], text: str) -> None:
    """Flag like the guard does (status + reasons); a skipped or unchanged row has nothing to judge."""
    if out.get("status", "ok") not in ("ok", "flagged"):
        return
    reason = short_rewrite_reason(text, out.get("rewrite"))
    if reason:
        out["status"] = "flagged"
        out["reasons"] = [*(out.get("reasons") or []), reason]


RowStream = Callable[[list[InputRow]], Iterable[tuple[list[InputRow], list[Any]]]]


def batched(rewrite: Callable[[list[str]], list[Any]], batch_rows: int, path: str | None = None) -> RowStream:
    """The local engine: rewrite the pending rows in order, `batch_rows` at a time."""

    def stream(rows: list[InputRow]) -> Iterator[tuple[list[InputRow], list[Any]]]:
        for start in range(0, len(rows), batch_rows):
            batch = rows[start: start + batch_rows]
            try:
                results = rewrite([row.text for row in batch])
            except InputError as exc:
                raise _in_file(exc, batch, path) from None
            yield batch, results

    return stream


def streamed(engine: Any, *, batch_size: int, window: int, path: str | None = None) -> RowStream:
    """The local engine, row by row: `window` pending rows go to `engine.rewrite_stream` at a time (all of
    them into the decode loop, `batch_size` decoded together) and each row is yielded the moment it is
    done, so the partial file and the progress bar advance per row. The batches are the ones
    `engine.rewrite(window rows)` would decode, so the results are the same."""

    def stream(rows: list[InputRow]) -> Iterator[tuple[list[InputRow], list[Any]]]:
        for start in range(0, len(rows), window):
            batch = rows[start: start + window]
            try:
                for index, result in engine.rewrite_stream([row.text for row in batch], batch_size=batch_size):
                    yield [batch[index]], [result]
            except InputError as exc:
                raise _in_file(exc, batch, path) from None

    return stream


def _in_file(exc: InputError, batch: list[InputRow], path: str | None) -> InputError:
    """The rewriter counts lines within its batch; the user needs the file and the file's line."""
    if exc.line is None or not 1 <= exc.line <= len(batch) or exc.path:
        return exc
    return batch[exc.line - 1].problem(path or "", exc.field or "", exc.message).to_error()


def _screen_rows(rows: list[InputRow], check: Callable[[str], str | None] | None, path: Path,
                 text_field: str) -> tuple[list[InputRow], list[Problem]]:
    """Rows the rewriter can take, and an error for each it cannot (before any model time is spent)."""
    if check is None:
        return rows, []
    kept: list[InputRow] = []
    errors: list[Problem] = []
    for row in rows:
        problem = check(row.text)
        if problem:
            errors.append(row.problem(path, text_field, problem))
        else:
            kept.append(row)
    return kept, errors


def first_error(errors: Sequence[Problem]) -> InputError:
    """The error that stops a job without --skip-invalid: the first bad row, and how many more."""
    first = errors[0]
    more = f" ({len(errors) - 1} more bad rows; --skip-invalid reports them all and goes on)" \
        if len(errors) > 1 else " (--skip-invalid skips bad rows and reports them)"
    return dataclasses.replace(first, message=first.message + more).to_error()


def check_input(input_path: str | Path, *, fmt: str | None, text_field: str, id_field: str | None,
                skip_invalid: bool) -> int:
    """Read the input once before a model loads: a bad file (or bad row without --skip-invalid) costs
    nothing. The number of rows to rewrite."""
    rows, errors = read_rows(input_path, fmt=fmt, text_field=text_field, id_field=id_field)
    if errors and not skip_invalid:
        raise first_error(errors)
    return len(rows)


def run_file_job(
    rewrite: Callable[[list[str]], list[Any]] | None,
    input_path: str | Path,
    output_path: str | Path,
    *,
    fmt: str | None = None,
    text_field: str = "text",
    id_field: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    skip_invalid: bool = False,
    errors_path: str | Path | None = None,
    batch_rows: int = 32,
    on_progress: Callable[[int], None] | None = None,
    stream: RowStream | None = None,
    check: Callable[[str], str | None] | None = None,
    csv_escape: bool = True,
) -> JobReport:
    """Rewrite a file's rows with `rewrite(texts) -> results` (objects with RESULT_FIELDS, and
    GUARD_FIELDS when the rewriter is guarded), or with `stream(rows)`, which yields (rows, results)
    in any order (the Ray engine). Each yielded batch is on disk before the next is asked for.
    `check(text)` says why the rewriter cannot take a text (e.g. too long): that row is a bad row.
    `csv_escape=False` writes a CSV output's formula-like cells verbatim (for machine consumers)."""
    input_path, output = Path(input_path), Path(output_path)
    if stream is None:
        if rewrite is None:
            raise ValueError("run_file_job needs rewrite or stream")
        stream = batched(rewrite, batch_rows, str(input_path))
    check_job_paths(input_path, output, errors_path)
    out_fmt = check_job_output(output, errors_path, resume=resume, overwrite=overwrite)
    partial = partial_path(output)
    if overwrite:
        partial.unlink(missing_ok=True)
        manifest_path(output).unlink(missing_ok=True)

    rows, errors = read_rows(input_path, fmt=fmt, text_field=text_field, id_field=id_field)
    rows, unfit = _screen_rows(rows, check, input_path, text_field)
    errors = sorted([*errors, *unfit], key=lambda error: error.line)
    if errors and not skip_invalid:
        raise first_error(errors)
    input_hash = file_sha256(input_path)
    finished = resume and output.exists() and not partial.exists()
    if finished:
        _check_finished(output, input_hash, input_path)
    report = JobReport(output=output, rows_total=len(rows), rows_done_before=0, rows_rewritten=0, errors=errors)
    if errors:
        report.errors_path = Path(errors_path) if errors_path else default_errors_path(output)
        write_rows(report.errors_path, [error.to_dict() for error in errors], "jsonl")
    if finished:
        report.rows_done_before = report.rows_total
        return report  # finished earlier from this same input; nothing to do

    done = _load_partial(partial, input_hash, input_path) if partial.exists() else {}
    report.rows_done_before = len(done)
    if on_progress and done:
        on_progress(len(done))
    pending = [row for row in rows if row.index not in done]
    with open(partial, "a", encoding="utf-8") as handle:
        if not done and handle.tell() == 0:
            _append(handle, [{"_srllm_job": {"input": str(input_path), "input_sha256": input_hash}}])
        for batch, results in stream(pending) if pending else ():
            records = [{"_row": row.index, **_result_row(row, result, id_field)}
                       for row, result in zip(batch, results, strict=False)]
            _append(handle, records)
            for record in records:
                done[record["_row"]] = record
                if "status" in record:
                    report.statuses[record["status"]] = report.statuses.get(record["status"], 0) + 1
            report.rows_rewritten += len(batch)
            if on_progress:
                on_progress(len(batch))
    final = [{k: v for k, v in done[row.index].items() if k != "_row"} for row in rows]
    _finish(output, final, out_fmt, input_path, input_hash, csv_escape)
    return report
