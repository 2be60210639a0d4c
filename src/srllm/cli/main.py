"""The `srllm` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from srllm.cli import data, models, report, rewrite, score, selftrain, serve, train
from srllm.cli import eval as eval_cli

app = typer.Typer(
    name="srllm",
    help="Safe and Responsible LLM: rewrite biased or toxic text safely, train and evaluate the models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("rewrite")(rewrite.rewrite)
app.command("score")(score.score)
app.add_typer(score.judge_app, name="judge")
app.add_typer(models.app, name="models")
app.add_typer(data.app, name="data")
app.command("train")(train.train_command)
app.command("merge")(train.merge_command)
app.command("self-train")(selftrain.self_train)
app.add_typer(eval_cli.app, name="eval")
app.command("report")(report.report)
app.command("serve")(serve.serve)
app.add_typer(serve.keys_app, name="keys")


if __name__ == "__main__":
    app()
