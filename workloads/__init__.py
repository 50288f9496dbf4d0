"""What is computed: LLM configurations, validated workloads and their operators.

>>> from hwsim.workloads import load_workload, operators, example_path
>>> w = load_workload(example_path("llama-2-7b-generative"))
>>> ops = operators(w)          # prefill ops, then decode ops (one array entry per step)
"""

from hwsim.workloads.attention import AttentionKernel
from hwsim.workloads.examples import (
    DEFAULT_WORKLOAD,
    example_path,
    example_workloads,
    resolve_workload_path,
)
from hwsim.workloads.footprint import Footprint, footprint
from hwsim.workloads.hf_config import (
    SUPPORTED_MODEL_TYPES,
    model_from_hf_config,
    model_from_hf_dict,
)
from hwsim.workloads.inventory import LinearLayer, linear_layers, parameter_count
from hwsim.workloads.models import ModelConfig, get_model, list_models
from hwsim.workloads.operators import operators
from hwsim.workloads.ops import Op, OperandKind, OpKind, Stage
from hwsim.workloads.spec import (
    Gemm,
    Precision,
    WeightPrecision,
    Workload,
    load_workload,
    workload_from_dict,
)

__all__ = [
    "DEFAULT_WORKLOAD",
    "SUPPORTED_MODEL_TYPES",
    "AttentionKernel",
    "Footprint",
    "Gemm",
    "LinearLayer",
    "ModelConfig",
    "Op",
    "OpKind",
    "OperandKind",
    "Precision",
    "Stage",
    "WeightPrecision",
    "Workload",
    "example_path",
    "example_workloads",
    "footprint",
    "get_model",
    "linear_layers",
    "list_models",
    "load_workload",
    "model_from_hf_config",
    "model_from_hf_dict",
    "operators",
    "parameter_count",
    "resolve_workload_path",
    "workload_from_dict",
]
