"""Config loading and building that explain mistakes instead of showing deep stack traces."""
import difflib
import inspect
import os.path as osp
import re

import torch
from mmcv.utils import Config

from ..utils.errors import UserError

# Python >= 3.10 names the class in the message ("DACS.__init__() got ..."); mmcv's registry
# also prefixes it ("DACS: DACS.__init__() ...").
_UNEXPECTED = re.compile(r"(?:(\w+)\.)?__init__\(\) got an unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"(?:(\w+)\.)?__init__\(\) missing \d+ required positional arguments?: (.+)$")
_NESTED_PREFIX = re.compile(r'^(?:[A-Z]\w*: )+')
_NOT_REGISTERED = re.compile(r"^(\S+) is not in the (\w+) registry$")


def load_config(path, cfg_options=None):
    """Load a config file (with `_base_` inheritance) and merge command-line overrides."""
    if not osp.isfile(path):
        raise UserError(f'config file {path} does not exist (run from the repository root, '
                        'e.g. `configs/pcpr/gtaHR2csHR_pcpr.py`).')
    try:
        cfg = Config.fromfile(path)
    except (SyntaxError, FileNotFoundError, KeyError, TypeError) as err:
        raise UserError(f'config file {path} could not be read: {err}') from err
    if cfg_options:
        check_override_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    return cfg


# Untyped config sections and the keys they accept besides those already present.
_SECTION_KEYS = {
    'data': {'samples_per_gpu', 'workers_per_gpu', 'train', 'val', 'test'},
    'log_config': {'interval', 'hooks', 'img_interval'},
    'nonfinite_loss': {'max_consecutive'},
}
# Untyped sections built by mmcv as a known class (keyword arguments of that class are valid).
_SECTION_TYPES = {'checkpoint_config': 'SafeCheckpointHook',
                  'optimizer_config': 'NonFiniteSkipOptimizerHook'}
# CheckpointHook passes these on to `runner.save_checkpoint`.
_EXTRA_KEYS = {'SafeCheckpointHook': {'filename_tmpl', 'create_symlink', 'meta'},
               'AdamW': {'paramwise_cfg', 'constructor'}, 'SGD': {'paramwise_cfg', 'constructor'}}


def _lookup_type(name):
    """The class registered as `name` in this package's or mmcv's registries, or None."""
    from mmcv.runner import HOOKS, OPTIMIZERS, RUNNERS
    import mmseg.core.runner  # noqa: F401  (registers the runner and hooks)
    from ..datasets.builder import DATASETS, PIPELINES
    from ..models.builder import MODELS
    for registry in (MODELS, DATASETS, PIPELINES, RUNNERS, HOOKS, OPTIMIZERS):
        cls = registry.get(name)
        if cls is not None:
            return cls
    return None


def constructor_keys(cls):
    """Keyword arguments `cls(...)` accepts, following `**kwargs` into the base classes.

    Returns None when that cannot be known: a constructor uses its `**kwargs` itself (pops
    or forwards them elsewhere) or they reach a base that accepts anything.
    """
    keys = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        if klass in (object, torch.nn.Module):
            return keys
        params = inspect.signature(init).parameters
        keys |= {n for n, p in params.items() if n != 'self' and p.kind not in
                 (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        var_kw = [n for n, p in params.items() if p.kind == p.VAR_KEYWORD]
        if not var_kw:
            return keys
        try:
            source = inspect.getsource(init)
        except (OSError, TypeError):
            return None
        # `**kwargs` only handed to the base class: 1 use in the signature, 1 in super().
        if source.count(var_kw[0]) > 2:
            return None
    return None


def _paramwise_keys(constructor):
    """The `paramwise_cfg` keys the optimizer constructor `constructor` reads, or None."""
    from mmcv.runner import OPTIMIZER_BUILDERS, DefaultOptimizerConstructor

    from ..core.runner.layer_decay_optimizer_constructor import MMCV_PARAMWISE_KEYS
    cls = OPTIMIZER_BUILDERS.get(constructor)
    if cls is DefaultOptimizerConstructor:
        return set(MMCV_PARAMWISE_KEYS)
    keys = getattr(cls, 'PARAMWISE_KEYS', None)
    return None if keys is None else set(keys)


def _accepted_keys(section, node, parent=None):
    """Keys an override may add to the dict `node` at `section` (a key of the dict `parent`),
    or None for any key."""
    if section in _SECTION_KEYS:
        return _SECTION_KEYS[section]
    if section == 'paramwise_cfg' and isinstance(parent, dict):
        return _paramwise_keys(parent.get('constructor', 'DefaultOptimizerConstructor'))
    if section == 'lr_config' and isinstance(node.get('policy'), str):
        type_name = node['policy'].title() + 'LrUpdaterHook'
    else:
        type_name = node.get('type', _SECTION_TYPES.get(section))
    if not isinstance(type_name, str):
        return None
    cls = _lookup_type(type_name)
    if cls is None:
        return None
    keys = constructor_keys(cls)
    if keys is None:
        return None
    return keys | _EXTRA_KEYS.get(type_name, set()) | {'type', 'policy'}


def check_override_keys(cfg, options: dict) -> None:
    """Refuse `--cfg-options` keys that would silently add a misspelt key to the config.

    `a.b.c=v` is refused when `a.b` exists and has no key `c` that its section or type accepts
    (e.g. `uda.alpah=0.9`; `optimizer.paramwise_cfg.x` takes the keys of the optimizer's
    `constructor`); overrides creating a new dict (`a.b` missing) or a new top-level key are
    accepted.
    """
    for dotted in options:
        parts = dotted.split('.')
        node, parent = cfg._cfg_dict, None
        for depth, key in enumerate(parts):
            path = '.'.join(parts[:depth + 1])
            if isinstance(node, (list, tuple)):
                if not key.isdigit() or int(key) >= len(node):
                    raise UserError(f'--cfg-options {dotted}: {".".join(parts[:depth])} is a '
                                    f'list of {len(node)} entries; {key!r} is no valid index.')
                node, parent = node[int(key)], None
                continue
            if not isinstance(node, dict):
                raise UserError(f'--cfg-options {dotted}: {".".join(parts[:depth])} is not a '
                                f'dict, so it has no key {key!r}.')
            if key in node:
                node, parent = node[key], node
                continue
            if depth == 0:
                break  # a new top-level key
            accepted = _accepted_keys(parts[depth - 1], node, parent)
            if accepted is not None and key not in accepted:
                known = sorted(set(node) | accepted)
                hint = difflib.get_close_matches(key, known, n=1)
                hint = f" Did you mean '{'.'.join(parts[:depth] + hint)}'?" if hint else ''
                raise UserError(f'--cfg-options {dotted}: the config has no key {path!r}.{hint} '
                                f'Keys of {".".join(parts[:depth])}: {", ".join(known)}')
            break


def _registered_class(name):
    from ..models.builder import MODELS
    from ..datasets.builder import DATASETS, PIPELINES
    for registry in (MODELS, DATASETS, PIPELINES):
        cls = registry.get(name)
        if cls is not None:
            return cls
    return None


def _valid_keys(class_name):
    """Constructor keys of a registered class, including those it forwards to its bases."""
    cls = _registered_class(class_name)
    keys = []
    for klass in (cls.__mro__ if cls is not None else ()):
        if '__init__' not in vars(klass) or klass.__module__.startswith(('torch', 'mmcv')):
            continue
        keys += [p for p in inspect.signature(klass.__init__).parameters
                 if p not in ('self', 'args', 'kwargs', *keys)]
    return keys


def _receiving_class(message, fallback):
    """The registered class that got the bad keyword: mmcv's innermost 'Name: ' prefix."""
    prefixes = re.findall(r'(\w+): ', message.split('__init__()')[0])
    return prefixes[-1] if prefixes else fallback


def explain_build_error(err, where):
    """Turn a registry build error into a `UserError` naming the config key, or None."""
    message = str(err)
    match = _UNEXPECTED.search(message)
    if isinstance(err, TypeError) and match:
        class_name, key = _receiving_class(message, match.group(1)), match.group(2)
        valid = _valid_keys(class_name) if class_name else []
        hint = difflib.get_close_matches(key, valid, n=1)
        hint = f" Did you mean '{hint[0]}'?" if hint else ''
        return UserError(f"unknown config key '{key}' for {class_name or 'a module'} "
                         f'(in {where}).{hint} Valid keys: {", ".join(valid)}')
    match = _MISSING.search(message)
    if isinstance(err, TypeError) and match:
        return UserError(f'{match.group(1)} (in {where}) needs the config key(s) '
                         f'{match.group(2)}.')
    # Nested builds wrap the KeyError's text in quotes once per level.
    match = _NOT_REGISTERED.search(re.sub(r'[\'"\\]', '', message.split(': ')[-1]).strip())
    if isinstance(err, KeyError) and match:
        from ..models.builder import MODELS
        from ..datasets.builder import DATASETS, PIPELINES
        known = sorted({*MODELS.module_dict, *DATASETS.module_dict, *PIPELINES.module_dict})
        hint = difflib.get_close_matches(match.group(1), known, n=1)
        hint = f" Did you mean '{hint[0]}'?" if hint else ''
        return UserError(f"unknown type '{match.group(1)}' in {where}: it is not registered in "
                         f'the {match.group(2)} registry.{hint}')
    return None


def build_with_clear_errors(builder, cfg, where):
    """Call `builder(cfg)`; configuration mistakes become one `UserError` naming the key."""
    try:
        return builder(cfg)
    except UserError as err:
        # mmcv's registry prefixes every nesting level with 'ClassName: '; the message of a
        # UserError already names what is wrong.
        raise UserError(_NESTED_PREFIX.sub('', str(err))) from None
    except (TypeError, KeyError) as err:
        explained = explain_build_error(err, where)
        if explained is None:
            raise
        raise explained from err
