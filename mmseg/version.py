__version__ = '0.16.0+pcpr.1.0.0'


def parse_version_info(version_str):
    """Split '0.16.0+pcpr.1.0.0' into (0, 16, 0) for version comparisons."""
    return tuple(int(x) for x in version_str.split('+')[0].split('.'))


version_info = parse_version_info(__version__)
