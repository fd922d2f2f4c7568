"""What torchlint knows about the PyTorch API and the frameworks around it: names, not logic."""

from __future__ import annotations

from typing import Optional

# torch.nn modules that own parameters (or, for batch norm, trained running statistics).
PARAMETERISED_LAYERS = frozenset({
    "Linear", "Bilinear", "LazyLinear",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "SyncBatchNorm", "GroupNorm", "LayerNorm", "RMSNorm",
    "Embedding", "EmbeddingBag",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "PReLU",
})
# Constructor keywords that, set to False, leave these layers without parameters.
PARAMETERLESS_WHEN_FALSE = {"affine", "elementwise_affine"}
# InstanceNorm has parameters only with affine=True.
PARAMETERISED_ONLY_WHEN_AFFINE = frozenset({"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"})
PARAMETER_CONSTRUCTORS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})

# Layers whose behaviour differs between train() and eval().
MODE_SENSITIVE_LAYERS = frozenset({
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
    "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "MultiheadAttention", "RNN", "LSTM", "GRU",
})
# Recurrent layers apply their ``dropout`` only between stacked layers, and it defaults to 0:
# an LSTM without ``dropout=`` or with one layer computes the same in both modes.
RECURRENT_LAYERS = {"RNN": (2, 5), "LSTM": (2, 5), "GRU": (2, 5)}  # positions of num_layers, dropout
# Layers whose ``dropout`` defaults to a non-zero value, and its position.
DROPOUT_BY_DEFAULT = {"Transformer": 7, "TransformerEncoderLayer": 3, "TransformerDecoderLayer": 3}
# Layers whose ``dropout`` defaults to 0, and its position.
DROPOUT_OFF_BY_DEFAULT = {"MultiheadAttention": 2}
# torchvision's model builders: every architecture there holds batch norm or dropout.
MODE_SENSITIVE_MODEL_ZOOS = ("torchvision.models.",)
# Functional forms, with the position of their ``training`` argument: they follow the mode only
# when it is passed (``training=self.training``); F.dropout defaults to on in both modes.
MODE_SENSITIVE_FUNCTIONS = {
    "torch.nn.functional.dropout": 2, "torch.nn.functional.dropout1d": 2, "torch.nn.functional.dropout2d": 2,
    "torch.nn.functional.dropout3d": 2, "torch.nn.functional.alpha_dropout": 2,
    "torch.nn.functional.feature_alpha_dropout": 2, "torch.nn.functional.batch_norm": 5,
}
# the functional dropouts whose ``training`` defaults to True (alpha dropout's defaults to False)
DROPOUT_ON_BY_DEFAULT = frozenset(f"torch.nn.functional.{name}" for name in ("dropout", "dropout1d", "dropout2d", "dropout3d"))
# Softmax and its relatives with the position of ``dim``; without it PyTorch picks a dimension
# by the input's rank (0 for a 3-D input).
SOFTMAX_DIM_FUNCTIONS = {
    "torch.nn.functional.softmax": 1, "torch.nn.functional.log_softmax": 1, "torch.nn.functional.softmin": 1,
    "torch.softmax": 1, "torch.log_softmax": 1,
}
SOFTMAX_DIM_MODULES = {"Softmax": 0, "LogSoftmax": 0, "Softmin": 0}
# Functions that create a tensor from nothing (as opposed to computing one from another).
TENSOR_FACTORIES = frozenset(f"torch.{name}" for name in (
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "rand", "randn", "randint",
    "randperm", "arange", "linspace", "logspace", "eye", "zeros_like", "ones_like", "full_like",
    "rand_like", "randn_like", "empty_like", "Tensor", "FloatTensor", "LongTensor", "DoubleTensor",
    "BoolTensor", "IntTensor",
))

# What a tensor holds, for the losses that expect one kind of input.
SOFTMAX, SIGMOID, LOG_PROBABILITIES, LOGITS = "softmax", "sigmoid", "log-probabilities", "logits"
ACTIVATION_FUNCTIONS = {
    "torch.nn.functional.softmax": SOFTMAX, "torch.softmax": SOFTMAX, "torch.special.softmax": SOFTMAX,
    "torch.sigmoid": SIGMOID, "torch.nn.functional.sigmoid": SIGMOID, "torch.special.expit": SIGMOID,
    "torch.nn.functional.log_softmax": LOG_PROBABILITIES, "torch.log_softmax": LOG_PROBABILITIES,
    "torch.special.log_softmax": LOG_PROBABILITIES, "torch.log": LOG_PROBABILITIES,
    "torch.nn.functional.linear": LOGITS,
}
ACTIVATION_METHODS = {"softmax": SOFTMAX, "sigmoid": SIGMOID, "log_softmax": LOG_PROBABILITIES, "log": LOG_PROBABILITIES}
ACTIVATION_MODULES = {"Softmax": SOFTMAX, "Sigmoid": SIGMOID, "LogSoftmax": LOG_PROBABILITIES, "Linear": LOGITS, "LazyLinear": LOGITS}
# Losses whose input must be of one kind, by family: functional forms and modules.
CROSS_ENTROPY, BCE_WITH_LOGITS, BCE, NLL = "cross-entropy", "bce-with-logits", "bce", "nll"
LOSS_FUNCTIONS = {
    "cross_entropy": CROSS_ENTROPY, "binary_cross_entropy_with_logits": BCE_WITH_LOGITS,
    "binary_cross_entropy": BCE, "nll_loss": NLL,
}
LOSS_MODULES = {"CrossEntropyLoss": CROSS_ENTROPY, "BCEWithLogitsLoss": BCE_WITH_LOGITS, "BCELoss": BCE, "NLLLoss": NLL}
DATA_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})

# Context managers (and decorators) under which no graph is recorded: evaluation code.
GRAD_DISABLING = frozenset({
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.inference_mode",
    "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
})
GRAD_MODE_SETTER = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled"})

# Classes whose subclasses are nn.Modules.
MODULE_BASE_PREFIXES = ("torch.nn.",)
FRAMEWORK_MODULE_BASES = frozenset({
    "lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule",
    "lightning.pytorch.core.LightningModule", "pytorch_lightning.core.LightningModule",
    "transformers.PreTrainedModel", "transformers.modeling_utils.PreTrainedModel",
})
# Standard-library modules whose classes, used as bases, bring no layers (``abc.ABC``, ``typing.Generic``).
PLAIN_BASE_MODULES = ("abc.", "typing.", "typing_extensions.", "collections.", "enum.", "dataclasses.")
TEST_CASE_BASES = frozenset({"unittest.TestCase", "unittest.case.TestCase", "torch.testing._internal.common_utils.TestCase"})
# Deep-learning frameworks other than PyTorch: a file that imports one of these and not torch is
# not PyTorch code (MXNet overwrites gradients on each backward; Keras passes ``training=False``).
OTHER_FRAMEWORKS = frozenset({"mxnet", "tensorflow", "keras", "jax", "flax", "paddle", "mindspore", "oneflow", "chainer", "theano"})
# Top-level packages whose import makes a file PyTorch code.
TORCH_PACKAGES = frozenset({"torch", "torchvision", "torchaudio", "torchtext", "lightning", "pytorch_lightning", "timm", "torch_geometric"})

# Classes whose subclasses' hooks are driven by a framework that sets train/eval mode and
# clears gradients itself (Lightning calls model.eval() before validation_step, say).
FRAMEWORK_DRIVEN_BASES = frozenset({
    "lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule",
    "lightning.pytorch.core.LightningModule", "pytorch_lightning.core.LightningModule",
    "transformers.Trainer", "transformers.trainer.Trainer", "transformers.Seq2SeqTrainer",
})

OPTIMIZER_PREFIXES = ("torch.optim.", "transformers.AdamW", "transformers.Adafactor", "bitsandbytes.optim.",
                      "apex.optimizers.", "timm.optim.", "torch_optimizer.")
NOT_OPTIMIZER_PREFIXES = ("torch.optim.lr_scheduler.", "torch.optim.swa_utils.")
SCHEDULER_PREFIXES = ("torch.optim.lr_scheduler.", "transformers.get_", "transformers.optimization.get_", "timm.scheduler.")
# Schedulers whose period is counted in epochs: stepping them per batch decays too fast.
EPOCH_SCHEDULERS = {"StepLR": ("step_size", 1), "MultiStepLR": ("milestones", 1), "CosineAnnealingLR": ("T_max", 1), "ExponentialLR": ("gamma", 1)}
PLATEAU_SCHEDULERS = frozenset({"ReduceLROnPlateau"})
GRAD_CLIPPING = frozenset(f"torch.nn.utils{module}.{name}" for module in ("", ".clip_grad") for name in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"))
GRAD_SCALERS = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler"})


def torch_nn_class(qualified_name: Optional[str]) -> Optional[str]:
    """``torch.nn.Linear`` and ``torch.nn.modules.linear.Linear`` -> ``Linear``; anything else None."""
    if not qualified_name or not qualified_name.startswith("torch.nn."):
        return None
    last = qualified_name.rsplit(".", 1)[1]
    return last if last[:1].isupper() else None


def is_scheduler_class(qualified_name: Optional[str]) -> bool:
    return bool(qualified_name) and qualified_name.startswith(SCHEDULER_PREFIXES) and (
        not qualified_name.startswith(("transformers.get_", "transformers.optimization.get_")) or "schedule" in qualified_name)


def is_optimizer_class(qualified_name: Optional[str]) -> bool:
    return bool(qualified_name) and qualified_name.startswith(OPTIMIZER_PREFIXES) and not qualified_name.startswith(NOT_OPTIMIZER_PREFIXES)


def loss_family(qualified_name: Optional[str], module: bool = False) -> Optional[str]:
    """The family of ``torch.nn.functional.nll_loss`` (or, with ``module``, of the class
    ``torch.nn.NLLLoss``); None for anything else."""
    if not qualified_name:
        return None
    if module:
        return LOSS_MODULES.get(torch_nn_class(qualified_name) or "")
    prefix, _, name = qualified_name.rpartition(".")
    return LOSS_FUNCTIONS.get(name) if prefix == "torch.nn.functional" else None
