"""Name-spacing of loss dicts (`decode.loss_seg`, `decode.hr.loss_seg`, ...)."""
from typing import Any, Dict


def add_prefix(inputs: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    """Return a copy of `inputs` whose keys are `f'{prefix}.{key}'`."""
    return {f'{prefix}.{name}': value for name, value in inputs.items()}
