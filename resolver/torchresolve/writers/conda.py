"""A conda ``environment.yml``: conda-forge packages where they exist, the rest under pip."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from packaging.utils import canonicalize_name

from torchresolve.writers.constraints import describe_target

if TYPE_CHECKING:
    from collections.abc import Sequence

    from packaging.requirements import Requirement

    from torchresolve.pins import PinSet

__all__ = ["CONDA_NAMES", "render_environment"]

CONDA_NAMES: Final = {
    "torch": "pytorch",
    "torchvision": "torchvision",
    "torchaudio": "torchaudio",
    "numpy": "numpy",
}
"""conda-forge names of the packages we move out of pip (others stay under ``pip:``)."""


def render_environment(
    pinset: PinSet,
    *,
    name: str = "torchresolve",
    requirements: Sequence[Requirement] = (),
) -> str:
    """environment.yml for conda-forge: ``pytorch`` with a ``cuda*``/``cpu*`` build and
    ``cuda-version`` for the CUDA runtime; local labels are dropped (conda has none).
    """
    target = pinset.target
    conda: list[str] = [f"python={target.python}"]
    pip: list[str] = []
    cuda = None
    torch = pinset.get("torch")
    if torch is not None:
        local = torch.version.local or ""
        if local.startswith("cu"):
            cuda = f"{local[2:-1]}.{local[-1]}"
        elif target.cuda not in (None, "cpu"):
            cuda = target.cuda
    for pin in sorted(pinset.pins, key=lambda p: p.name):
        conda_name = CONDA_NAMES.get(pin.name)
        if conda_name is None:
            pip.append(f"{pin.name}=={pin.version}")
            continue
        spec = f"{conda_name}={pin.version.public}"
        if pin.name == "torch":
            spec += "=cuda*" if cuda is not None else "=cpu*"
        conda.append(spec)
    if cuda is not None:
        conda.append(f"cuda-version={cuda}")
    for req in requirements:
        conda_name = CONDA_NAMES.get(canonicalize_name(req.name))
        if conda_name is None:
            pip.append(str(req))
        else:
            conda.append(f"{conda_name}{req.specifier}")
    lines = [
        f"# target: {describe_target(target)}",
        f"name: {name}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
    ]
    lines.extend(f'  - "{spec}"' for spec in conda)
    if pip:
        lines += ["  - pip", "  - pip:"]
        lines.extend(f'      - "{spec}"' for spec in pip)
    return "\n".join(lines) + "\n"
