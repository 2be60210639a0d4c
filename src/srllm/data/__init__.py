"""CMD data: schema, readers and importers, quality checks, splits, statistics, formatting,
agreement and model-assisted annotation."""

from srllm.data.agreement import Agreement, fleiss_kappa, interpret_kappa, label_agreement, ratings_table
from srllm.data.annotate import (
    AnnotateResult,
    AnnotationError,
    AnnotationFailed,
    ModelAnnotation,
    OpenAIChat,
    annotate_records,
    local_chat,
    parse_annotation,
    texts_to_records,
)
from srllm.data.checks import CHECKS, CheckContext, CheckResult, Finding, fix_records, register_check, run_checks
from srllm.data.formatting import format_records, to_alpaca, to_chat_text, to_messages
from srllm.data.importers import IMPORTERS, register_importer
from srllm.data.readers import ReadResult, load_records, parse_mapping, read_records
from srllm.data.schema import LABEL_VALUES, CMDRecord, Labels, normalize_text
from srllm.data.split import DEFAULT_RATIOS, split_records
from srllm.data.stats import compute_stats, render_markdown, write_stats
from srllm.data.writers import write_records
from srllm.text.meta import find_meta, strip_meta
from srllm.text.readers import Problem
from srllm.text.writers import write_jsonl

__all__ = [
    "CHECKS", "DEFAULT_RATIOS", "IMPORTERS", "LABEL_VALUES",
    "Agreement", "AnnotateResult", "AnnotationError", "AnnotationFailed", "CMDRecord", "CheckContext",
    "CheckResult", "Finding", "Labels", "ModelAnnotation", "OpenAIChat", "Problem", "ReadResult",
    "annotate_records", "compute_stats", "find_meta", "fix_records", "fleiss_kappa", "format_records",
    "interpret_kappa", "label_agreement", "load_records", "local_chat", "normalize_text", "parse_annotation",
    "parse_mapping", "ratings_table", "read_records", "register_check", "register_importer",
    "render_markdown", "run_checks", "split_records", "strip_meta", "texts_to_records", "to_alpaca",
    "to_chat_text", "to_messages", "write_jsonl", "write_records", "write_stats",
]
