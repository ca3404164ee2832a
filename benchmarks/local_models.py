"""Speed and memory of each embedded model, side by side in one run.

    python benchmarks/local_models.py                      # every installed packaged model
    python benchmarks/local_models.py --model 0.5b --write benchmarks/RESULTS-local-models.md

Each model runs in a process of its own (so its resident memory is its own): load, then
the same three calls: a coder prompt read cold, the same prompt again (its state kept: the
prompt cache at work), and a repair prompt that shares the first one's prefix. Each call
generates up to 64 tokens. Reported: load time, peak resident memory, prompt tokens per
second (cold), time to first token cold and cached, tokens generated per second.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SYSTEM = (
    "You write short Python scripts. Scripts never call input(); they compute the answer "
    "from the numbers in the question and print it."
)
QUESTION = (
    "Question: A shop sells 3 kinds of fruit. Apples cost 0.40 each, pears 0.55 and plums "
    "0.25. On Monday it sold 120 apples, 75 pears and 210 plums; on Tuesday 95 apples, 110 "
    "pears and 180 plums. What was the total revenue of the two days, and which fruit "
    "brought in the most over both days?\n"
)
FIRST = QUESTION + "Write the Python script."
REPAIR = (
    QUESTION
    + "This script failed:\n```python\nprices = {'apple': 0.4, 'pear': 0.55, 'plum': 0.25}\n"
    "print(sum(prices[f] * n for f, n in sales))\n```\nNameError: name 'sales' is not "
    "defined\nWrite the corrected script."
)


def measure(name: str) -> dict[str, object]:
    """Runs in the child process: one model, three calls."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from runpad.models.local import LocalChatModel
    from runpad.models.resolve import local_chat_model

    model = local_chat_model(name)
    assert isinstance(model, LocalChatModel)
    started = time.perf_counter()
    model.load()  # load time on its own, before the first call
    load_s = time.perf_counter() - started
    rows = []
    for prompt in (FIRST, FIRST, REPAIR):
        model.invoke([SystemMessage(SYSTEM), HumanMessage(prompt)], max_tokens=64)
        rows.append(model.calls[-1])
    cold, cached, repair = rows
    generated = sum(call.completion_tokens for call in rows)
    generating = sum(call.total_s - call.first_token_s for call in rows)
    evaluated = cold.prompt_tokens - cold.cached_tokens
    return {
        "model": model.label,
        "load_s": round(load_s, 2),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "prompt_tokens": cold.prompt_tokens,
        "prompt_tokens_per_s_cold": round(evaluated / cold.first_token_s, 1),
        "first_token_s_cold": cold.first_token_s,
        "first_token_s_same_prompt": cached.first_token_s,
        "cached_tokens_same_prompt": cached.cached_tokens,
        "repair_prompt_tokens": repair.prompt_tokens,
        "repair_cached_tokens": repair.cached_tokens,
        "first_token_s_repair": repair.first_token_s,
        "generate_tokens_per_s": round(generated / generating, 1) if generating else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="0.5b, 1.5b, smollm2 (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    rows = []
    for name in args.model or ["smollm2", "0.5b", "1.5b"]:
        done = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True
        )
        if done.returncode != 0:
            print(f"{name}: skipped: {done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], file=sys.stderr, flush=True)
    columns = list(rows[0]) if rows else []
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    with open("/proc/loadavg", encoding="ascii") as handle:
        load = handle.read().split()[0]
    text = (
        f"\n{time.strftime('%Y-%m-%d %H:%M')} "
        f"(load average {load} at the end):\n\n" + "\n".join(table) + "\n"
    )
    print(text)
    if args.write:
        with args.write.open("a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
