"""Config loading and building that explain mistakes instead of showing deep stack traces."""
import difflib
import inspect
import os.path as osp
import re

from mmcv.utils import Config

from .errors import UserError

# Python >= 3.10 names the class in the message ("DACS.__init__() got ..."); mmcv's registry
# also prefixes it ("DACS: DACS.__init__() ...").
_UNEXPECTED = re.compile(r"(?:(\w+)\.)?__init__\(\) got an unexpected keyword argument '(\w+)'")
_MISSING = re.compile(r"(?:(\w+)\.)?__init__\(\) missing \d+ required positional arguments?: (.+)$")
_NESTED_PREFIX = re.compile(r'^(?:[A-Z]\w*: )+')
_NOT_REGISTERED = re.compile(r"^'?(\S+) is not in the (\w+) registry'?$")


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
        cfg.merge_from_dict(cfg_options)
    return cfg


def _registered_class(name):
    from mmseg.models.builder import MODELS
    from mmseg.datasets.builder import DATASETS, PIPELINES
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
    match = _NOT_REGISTERED.search(message.split(': ')[-1].strip())
    if isinstance(err, KeyError) and match:
        from mmseg.models.builder import MODELS
        from mmseg.datasets.builder import DATASETS, PIPELINES
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
