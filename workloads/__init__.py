"""What is computed: LLM configurations, validated workloads and their operators."""

from hwsim.workloads.ops import Op, OperandKind, OpKind, Stage

__all__ = ["Op", "OpKind", "OperandKind", "Stage"]
