"""Auto-checks for the exercises: run a reader's function against the reference on random
inputs and answer with a helpful message (what differs, on which input).

Every check returns a :class:`CheckResult` (printed as a short report, truthy when passed);
``raise_on_failure=True`` turns a failure into an ``AssertionError`` for tests.

One module per part of the book (``checks.part1``, ``checks.part2``, ``checks.part3``); every check is
importable from here.

Every check is wrapped by :func:`stub_aware`: given the student version's stub (a function that
raises ``NotImplementedError``, or ``None`` for an answer not written yet) it prints "not yet" and
returns a failed result instead of raising, so that a student notebook runs top to bottom.
"""
from ._core import CheckResult, compare_outputs, stub_aware
from .part1 import (_small_content_style_model, check_caption_parser, check_content_encoder, check_linear_r2,
                    check_sample_pairs, check_symmetric_info_nce, detokenize_batch, package_noise)
from .part2 import check_caption_verdict, check_expected_r2_matrix, check_hue_oracle, check_identified_set
from .part3 import check_bridge_loss, check_information_gap, check_zero_shot_top_k

__all__ = ["CheckResult", "compare_outputs", "stub_aware", "check_symmetric_info_nce", "check_sample_pairs",
           "check_content_encoder", "check_linear_r2", "check_caption_parser", "check_identified_set",
           "check_expected_r2_matrix", "check_hue_oracle", "check_caption_verdict", "check_information_gap",
           "check_bridge_loss", "check_zero_shot_top_k", "package_noise", "detokenize_batch"]
