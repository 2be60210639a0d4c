"""The `srllm` command: one typer app; each command group lives in its own module.

Importing this module (all `srllm --help` needs) loads no model library: a command module imports
torch, transformers, the scorers or srllm.data inside the command that uses them (tests/cli pins it)."""

from __future__ import annotations

import typer

from srllm.cli import data, models, report, rewrite, score, selftrain, serve, train
from srllm.cli import eval as eval_cli
from srllm.cli.common import quiet_libraries

app = typer.Typer(
    name="srllm",
    help="Safe and Responsible LLM: rewrite biased or toxic text safely, train and evaluate the models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", help="Show the libraries' progress bars and warnings "
                                                               "(transformers, huggingface_hub, ...).")) -> None:
    """Safe and Responsible LLM: rewrite biased or toxic text safely, train and evaluate the models."""
    if not verbose:
        quiet_libraries()


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
