"""Checkpoints as safetensors bytes: the state dict plus the model config (JSON in the header metadata), so
loading rebuilds the exact module without pickle. A checkpoint travels with its sha256, which loading checks
before reading a single tensor. The registry stores these bytes; `temporal-order models` lists them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from training.architectures import build_model, config_from_dict
from training.models import SequenceClassifier, config_to_dict

# The only metadata key: safetensors keeps metadata in a hash map, so with one key the same model always
# serialises to the same bytes (and the same sha256).
_CONFIG_KEY = "model_config"
# The safetensors header is an 8-byte little-endian length followed by that much JSON.
_HEADER_LENGTH = struct.Struct("<Q")
# Far above any header this project writes; stops a corrupt length from asking for gigabytes.
_MAX_HEADER_BYTES = 1 << 20


class CheckpointError(ValueError):
    """Checkpoint bytes that cannot be trusted or read: wrong checksum, not safetensors, unknown config."""


@dataclass(frozen=True)
class Checkpoint:
    data: bytes
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_checkpoint(model: SequenceClassifier) -> Checkpoint:
    """Serialise `model` (weights on any device) into safetensors bytes carrying its config."""
    # safetensors refuses tensors that share storage or are not contiguous; our models have neither,
    # but clone to CPU so a model living on a GPU serialises the same bytes.
    tensors = {name: tensor.detach().to("cpu").contiguous().clone() for name, tensor in model.state_dict().items()}
    metadata = {_CONFIG_KEY: json.dumps(config_to_dict(model.config), sort_keys=True)}
    data = save_tensors(tensors, metadata=metadata)
    return Checkpoint(data=data, sha256=sha256_hex(data))


def read_metadata(data: bytes) -> dict[str, str]:
    """The `__metadata__` of safetensors bytes, without reading the tensors."""
    if len(data) < _HEADER_LENGTH.size:
        raise CheckpointError("checkpoint is shorter than a safetensors header")
    (length,) = _HEADER_LENGTH.unpack_from(data)
    if length > min(_MAX_HEADER_BYTES, len(data) - _HEADER_LENGTH.size):
        raise CheckpointError(f"checkpoint header length {length} is impossible for {len(data)} bytes")
    try:
        header = json.loads(data[_HEADER_LENGTH.size : _HEADER_LENGTH.size + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint header is not JSON: {error}") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise CheckpointError("checkpoint header has no metadata")
    return {str(key): str(value) for key, value in metadata.items()}


def read_config(data: bytes) -> dict[str, Any]:
    """The model config stored in checkpoint bytes, as `config_to_dict` wrote it."""
    metadata = read_metadata(data)
    if _CONFIG_KEY not in metadata:
        raise CheckpointError("checkpoint metadata holds no model config")
    try:
        config = json.loads(metadata[_CONFIG_KEY])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"checkpoint model config is not JSON: {error}") from None
    if not isinstance(config, dict):
        raise CheckpointError("checkpoint model config is not a JSON object")
    return config


def from_checkpoint(data: bytes, *, sha256: str, device: str | torch.device = "cpu") -> SequenceClassifier:
    """Rebuild the model from checkpoint bytes, in eval mode on `device`; the checksum is verified first."""
    actual = sha256_hex(data)
    if actual != sha256:
        raise CheckpointError(f"sha256 mismatch: stored bytes hash to {actual}, expected {sha256}")
    try:
        model = build_model(config_from_dict(read_config(data)))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint model config cannot be rebuilt: {error}") from None
    try:
        tensors = load_tensors(data)
        model.load_state_dict(tensors, strict=True)
    except (SafetensorError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint tensors do not fit the model: {error}") from None
    return model.to(device).eval()
