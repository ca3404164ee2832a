"""What counts as the same answer: the key programs vote with."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableBinding

from runpad.agents.voting import tally
from runpad.answers import answer_key
from runpad.models import FunctionChatModel, sampling_model
from runpad.models.local import LocalChatModel
from runpad.state import Vote


@pytest.mark.parametrize(
    ("output", "key"),
    [
        ("18\n", "18"),
        ("18.0", "18"),
        ("Mean: 18.", "18"),
        ("2.50", "2.5"),
        ("1,234", "1234"),
        ("-0.0", "0"),
        ("12157665459056928801", "12157665459056928801"),  # every digit of a big integer
        ("12157665459056928800", "12157665459056928800"),
        ("step 1 done\nstep 2 done\nThe answer is 6789.0.", "6789"),  # the last line answers
        ("Sunday.", "sunday"),
        ("  The Quick   fox ", "the quick fox"),
        ("2024-11-03", "3"),  # a date's hyphens are not signs; its last number is 03
        ("", None),
        ("\n  \n", None),
    ],
)
def test_answer_key(output: str, key: str | None) -> None:
    assert answer_key(output) == key


def vote(sample: int, key: str | None) -> Vote:
    return Vote(sample=sample, cell=sample + 1 if key else None, key=key)


def test_tally_prefers_the_most_votes_then_the_earliest_sample() -> None:
    assert tally([vote(0, "1"), vote(1, "2"), vote(2, "2")]) == vote(1, "2")
    assert tally([vote(0, "1"), vote(1, "2")]) == vote(0, "1")
    assert tally([vote(0, None), vote(1, "5")]) == vote(1, "5")
    assert tally([vote(0, None), vote(1, None)]) is None
    assert tally([]) is None


def test_sample_zero_is_the_model_itself_and_later_ones_differ() -> None:
    local = LocalChatModel(seed=3)
    assert sampling_model(local, 0, 0.7) is local
    drawn = sampling_model(local, 2, 0.7)
    assert isinstance(drawn, RunnableBinding)
    assert drawn.kwargs == {"temperature": 0.7, "seed": 5}
    # A model without a seed gets the temperature only.
    plain = FunctionChatModel(respond=lambda messages: "ok")
    binding = sampling_model(plain, 1, 0.9)
    assert isinstance(binding, RunnableBinding)
    assert binding.kwargs == {"temperature": 0.9}
    assert binding.invoke("hi").text == "ok"
