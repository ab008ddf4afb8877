"""The architecture registry: every list of architectures is read from it."""

from __future__ import annotations

from typing import get_args

import pytest

from service.schemas import Arch
from training.architectures import ARCHITECTURES, REGISTRY, architecture, build_model, default_config
from training.cli.commands import ArchChoice
from training.task import get_task
from training.train import default_train_config


def test_the_apis_and_the_clis_names_are_the_registrys() -> None:
    # The two lists kept apart: the SDK ships schemas without training, and the CLI builds its --arch choices
    # without importing torch. A registration either refuses, or a name either accepts that nothing serves,
    # fails here.
    assert get_args(Arch) == ARCHITECTURES
    assert tuple(choice.value for choice in ArchChoice if choice.value != "all") == ARCHITECTURES


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_a_registration_gives_the_config_the_module_and_the_training_defaults(arch: str) -> None:
    registered = architecture(arch)
    config = default_config(arch, n_classes=4)
    assert type(config) is registered.config_type and config.n_classes == 4 and config.arch == arch
    assert build_model(config).config == config
    assert default_train_config(arch) == registered.train_config


def test_task_learning_rates_follow_the_task_family() -> None:
    assert default_train_config("lstm1997", get_task("6a")).learning_rate == 0.5
    assert default_train_config("lstm1997", get_task("6b")).learning_rate == 0.1
    assert default_train_config("lstm", get_task("6a")).learning_rate == REGISTRY["lstm"].train_config.learning_rate


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown architecture 'gpt'; known: rnn, lstm"):
        default_train_config("gpt")


def test_the_study_runs_every_learning_architecture_by_default() -> None:
    from training.cli.study_commands import learning_arches

    assert learning_arches() == ("rnn", "lstm", "attn_rnn", "lstm1997", "gru")
