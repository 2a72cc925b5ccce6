"""The README and docs/: every relative link reaches a file and every anchor a heading.

Links are checked as GitHub renders them: `[text](target)` and `![alt](target)` outside code
blocks and inline code; `target` is a path relative to the page, optionally with `#anchor`, or
only `#anchor` for the page itself. An anchor must equal the slug of a heading of the target file
(GitHub's rules: lowercase; drop every character that is not a letter, digit, space, '-' or '_';
spaces become '-'; repeated headings get '-1', '-2', ...). External links (http, https, mailto)
are not checked.
"""
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

_FENCE = re.compile(r'^\s*(```|~~~)')
_INLINE_CODE = re.compile(r'(`+)(?:(?!\1).)+?\1')
_LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HEADING = re.compile(r'^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
_EXTERNAL = ('http://', 'https://', 'mailto:', 'ftp://')


def markdown_files() -> List[Path]:
    """README.md and every .md file under docs/."""
    return [REPO / 'README.md'] + sorted((REPO / 'docs').rglob('*.md'))


def prose_lines(text: str) -> List[Tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    lines, in_fence = [], False
    for number, line in enumerate(text.split('\n'), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append((number, _INLINE_CODE.sub('', line)))
    return lines


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading text (markdown links reduced to their text first)."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)
    text = text.strip().lower()
    text = ''.join(ch for ch in text if ch.isalnum() or ch in ' -_')
    return text.replace(' ', '-')


def heading_anchors(path: Path) -> Set[str]:
    """All anchors of a markdown file, with GitHub's -1, -2 suffixes for repeated headings."""
    anchors: Set[str] = set()
    seen: Dict[str, int] = {}
    text = path.read_text(encoding='utf-8')
    in_fence = False
    for line in text.split('\n'):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f'{slug}-{count}')
        seen[slug] = count + 1
    return anchors


def links(path: Path) -> List[Tuple[int, str]]:
    """(line number, target) of every link and image in the file's prose."""
    text = path.read_text(encoding='utf-8')
    return [(number, match.group(1)) for number, line in prose_lines(text)
            for match in _LINK.finditer(line)]


def broken_links(path: Path) -> List[str]:
    """One message per link of `path` that does not resolve; external links are skipped."""
    problems = []
    for number, target in links(path):
        if target.lower().startswith(_EXTERNAL):
            continue
        file_part, _, anchor = target.partition('#')
        where = f'{path.relative_to(REPO)}:{number}: ({target})'
        dest = path if not file_part else (path.parent / unquote(file_part)).resolve()
        if not dest.exists():
            problems.append(f'{where} -> no file {os.path.relpath(dest, REPO)}')
            continue
        if not anchor:
            continue
        if dest.is_dir() or dest.suffix.lower() != '.md':
            problems.append(f'{where} -> an anchor into a file that is not markdown')
        elif unquote(anchor) not in heading_anchors(dest):
            problems.append(f'{where} -> no heading #{anchor} in {dest.relative_to(REPO)}')
    return problems


@pytest.mark.parametrize('path', markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_readme_has_at_most_250_lines():
    lines = (REPO / 'README.md').read_text(encoding='utf-8').splitlines()
    assert len(lines) <= README_MAX_LINES, f'README.md has {len(lines)} lines'


def test_docs_index_links_every_docs_page():
    index = REPO / 'docs' / 'README.md'
    linked = {(index.parent / target.partition('#')[0]).resolve()
              for _, target in links(index) if not target.startswith(_EXTERNAL)}
    pages = set(p.resolve() for p in (REPO / 'docs').rglob('*.md')) - {index.resolve()}
    assert sorted(str(p.relative_to(REPO)) for p in pages - linked) == []


def test_github_slugs_of_typical_headings():
    assert github_slug('Running on GPUs, nodes and SLURM') == 'running-on-gpus-nodes-and-slurm'
    assert github_slug('What `tools/gpu_check.sh` checks') == 'what-toolsgpu_checksh-checks'
    assert github_slug('Paired runs that share their random draws; the default changed') == \
        'paired-runs-that-share-their-random-draws-the-default-changed'
    assert github_slug('Pseudo-label filtering (PLF)') == 'pseudo-label-filtering-plf'


def test_a_broken_link_and_a_broken_anchor_are_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], 'REPO', tmp_path)
    (tmp_path / 'target.md').write_text('# A heading\n\n## Second one\n', encoding='utf-8')
    page = tmp_path / 'page.md'
    page.write_text('[ok](target.md#second-one) [self](#top) [gone](missing.md)\n'
                    '[bad anchor](target.md#nope) `[in code](missing2.md)`\n\n# Top\n'
                    '```\n[in a fence](missing3.md)\n```\n[web](https://example.org/x)\n',
                    encoding='utf-8')
    problems = broken_links(page)
    assert len(problems) == 2
    assert 'no file missing.md' in problems[0]
    assert 'no heading #nope in target.md' in problems[1]
