"""Story files -> `model.Story`, with every problem reported as file:line:col.

The loader owns the files: finding `story.yaml` in a folder, the size cap,
UTF-8, includes (kept inside the story folder, no cycles, no repeats), the
content hash, and the cross-file rules (scene ids global to the story, every
reference resolved). Turning one mapping node into a scene or choice is the job
of `build`; reading YAML safely is the job of `yamlread`. Nothing here raises
for bad story content: problems are collected and returned all at once, sorted
in source order. Only a root file that cannot be read at all raises
`StoryUnreadable` (the CLI's exit status 2).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from branching.errors import Problem, StoryInvalid, StoryUnreadable
from branching.story import spec
from branching.story.build import Builder, RawScene
from branching.story.build_scene import build_scene, resolve_references
from branching.story.files import MAX_BYTES, hash_part, read_capped
from branching.story.model import Pos, Scene, Story
from branching.story.yamlread import Map, Node, Scalar, Seq, YamlFatal, decode, read_tree


@dataclass
class LoadResult:
    story: Story | None
    problems: list[Problem] = field(default_factory=list)
    partial: Story | None = None  # built even when there are errors, for further checks

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """The story's root file: the path itself, or `story.yaml` inside a folder."""
    p = Path(path)
    if p.is_dir():
        root = p / "story.yaml"
        if not root.is_file():
            raise StoryUnreadable(f"{p}: a story folder must hold story.yaml")
        return root
    if not p.exists():
        raise StoryUnreadable(f"{p}: no such file or folder")
    return p


def load(path: str | os.PathLike[str]) -> LoadResult:
    """Load a story; returns it (None when it has errors) and every problem found."""
    root = resolve_path(path)
    # The collector is the program's to pause (see `branching.startup`), never ours.
    return _Load(root).run()


def load_story(path: str | os.PathLike[str]) -> Story:
    """Load a story that must be free of errors (warnings are allowed)."""
    result = load(path)
    if result.story is None:
        raise StoryInvalid(result.errors)
    return result.story


class _Load:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root.resolve().parent
        self.problems: list[Problem] = []
        self.files: list[str] = []  # display names, in load order
        self.seen: dict[Path, str] = {}  # resolved path -> display name
        self.digest = hashlib.sha256()
        self.raw: list[RawScene] = []
        self.builder: Builder | None = None

    # -- problems -------------------------------------------------------------

    def problem(
        self, file: str, line: int, col: int, message: str, severity: str = "error"
    ) -> None:
        order = self.files.index(file) if file in self.files else len(self.files)
        self.problems.append(Problem(file, line, col, severity, message, order))  # type: ignore[arg-type]

    # -- files ------------------------------------------------------------------

    def read(self, path: Path, display: str) -> Node | None:
        """Read one file into a tree, or record why not (None)."""
        self.files.append(display)
        self.seen[path.resolve()] = display
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                self.problem(display, 1, 1, f"file is {size:,} bytes; the limit is {MAX_BYTES:,}")
                return None
            data = read_capped(path)  # the cap holds for what stat cannot size too
            if len(data) > MAX_BYTES:
                self.problem(display, 1, 1, f"file is over the limit of {MAX_BYTES:,} bytes")
                return None
        except OSError as exc:
            if not self.problems and display == self.files[0]:
                raise StoryUnreadable(f"{display}: {exc.strerror or exc}") from None
            self.problem(display, 1, 1, f"cannot read file: {exc.strerror or exc}")
            return None
        rel = path.resolve().relative_to(self.folder) if len(self.files) > 1 else Path(path.name)
        self.digest.update(hash_part(rel.as_posix(), data))
        try:
            tree, soft = read_tree(decode(data))
        except YamlFatal as exc:
            self.problem(display, exc.line, exc.col, exc.message)
            return None
        for p in soft:
            self.problem(display, p.line, p.col, p.message)
        if tree is None:
            self.problem(display, 1, 1, "the file is empty")
        elif not isinstance(tree, Map):
            self.problem(display, tree.line, tree.col, "a story file must be a mapping of keys")
            return None
        return tree

    def run(self) -> LoadResult:
        display = str(self.root)
        tree = self.read(self.root, display)
        if tree is None or not isinstance(tree, Map):
            return self.finish(None)
        b = Builder(display, self.problem)
        b.check_keys(tree, "story", "the story")
        state, state_pos = b.state(tree.pairs.get("state"))
        self.builder = b
        b.set_variables({k: type(v) for k, v in state.items()})
        self.scenes_and_includes(tree, self.root, display, None, ())
        meta = self.metadata(tree, b)
        if meta is None:
            return self.finish(None)
        scenes = self.build_scenes()
        start_key, start_node = tree.pairs.get("start", (None, None))
        start = b.text(start_node, "start") if start_node is not None else None
        start_pos = Pos(display, tree.line, tree.col)
        if start_node is not None and start_key is not None:
            start_pos = Pos(display, start_node.line, start_node.col)
        if start is None:
            if start_node is None:
                self.problem(display, tree.line, tree.col, "missing 'start': name the first scene")
        elif start not in scenes:
            self.problem(display, start_pos.line, start_pos.col, _unknown_scene(start, scenes))
        if not scenes and not any(p.severity == "error" for p in self.problems):
            self.problem(display, tree.line, tree.col, "the story has no scenes")
        resolve_references(b, scenes)
        story = Story(
            start=start or "",
            scenes=MappingProxyType(scenes),
            state=MappingProxyType(state),
            state_pos=MappingProxyType(state_pos),
            start_pos=start_pos,
            content_hash=self.digest.hexdigest()[:16],
            path=str(self.root),
            files=tuple(self.files),
            **meta,
        )
        return self.finish(story)

    def finish(self, story: Story | None) -> LoadResult:
        self.problems.sort(key=Problem.sort_key)
        partial = story
        if any(p.severity == "error" for p in self.problems):
            story = None
        return LoadResult(story, self.problems, partial)

    def metadata(self, tree: Map, b: Builder) -> dict[str, Any] | None:
        version = tree.pairs.get("branching")
        if version is None:
            self.problem(b.file, tree.line, tree.col, "missing 'branching: 1' (the format version)")
        else:
            node = version[1]
            if not (isinstance(node, Scalar) and node.plain and node.value == "1"):
                shown = node.value if isinstance(node, Scalar) else "a collection"
                self.problem(
                    b.file,
                    node.line,
                    node.col,
                    f"unknown format version {shown!r}; this branching reads version "
                    f"{spec.FORMAT_VERSION}",
                )
        default_id = (
            self.root.resolve().parent.name if self.root.name == "story.yaml" else (self.root.stem)
        )
        story_id = b.opt_id(tree, "id") or default_id
        title = b.opt_text(tree, "title") or story_id
        timer = b.opt_number(tree, "timer") or 0.0
        return {
            "id": story_id,
            "title": title,
            "author": b.opt_text(tree, "author"),
            "description": b.opt_text(tree, "description"),
            "language": b.opt_text(tree, "language"),
            "version": b.opt_text(tree, "version"),
            "timer": float(timer),
        }

    # -- includes and scenes ------------------------------------------------------

    def scenes_and_includes(
        self, tree: Map, path: Path, display: str, chapter: str | None, chain: tuple[Path, ...]
    ) -> None:
        assert self.builder is not None
        b = self.builder.for_file(display)
        here = path.resolve()
        scenes = tree.pairs.get("scenes")
        if scenes is not None:
            node = scenes[1]
            if isinstance(node, Map):
                for sid, (key, value) in node.pairs.items():
                    self.raw.append(RawScene(sid, key, value, display, chapter))
            elif not (isinstance(node, Scalar) and node.plain and node.value == ""):
                b.expected(node, "a mapping of scene id to scene", "scenes")
        include = tree.pairs.get("include")
        if include is None:
            return
        items = include[1]
        if not isinstance(items, Seq):
            b.expected(items, "a list of file paths", "include")
            return
        for item in items.items:
            rel = b.text(item, "include")
            if rel is None:
                continue
            self.include(item, rel, here, display, chain + (here,))

    def include(
        self, item: Node, rel: str, here: Path, display: str, chain: tuple[Path, ...]
    ) -> None:
        assert self.builder is not None
        target = here.parent / rel
        resolved = target.resolve()
        shown = os.path.normpath(os.path.join(os.path.dirname(display), rel))
        if not resolved.is_relative_to(self.folder) or os.path.isabs(rel):
            self.problem(
                display, item.line, item.col, f"include '{rel}' is outside the story folder"
            )
            return
        if resolved in chain:
            self.problem(display, item.line, item.col, f"include '{rel}' forms a cycle")
            return
        if resolved in self.seen:
            self.problem(
                display,
                item.line,
                item.col,
                f"'{rel}' is included twice (already loaded as {self.seen[resolved]})",
            )
            return
        if not resolved.is_file():
            self.problem(display, item.line, item.col, f"include '{rel}': no such file")
            return
        tree = self.read(target, shown)
        if not isinstance(tree, Map):
            return
        b = self.builder.for_file(shown)
        b.check_keys(tree, "chapter", "a chapter file")
        chapter = b.opt_text(tree, "chapter")
        self.scenes_and_includes(tree, target, shown, chapter, chain)

    def build_scenes(self) -> dict[str, Scene]:
        assert self.builder is not None
        scenes: dict[str, Scene] = {}
        first: dict[str, RawScene] = {}
        for raw in self.raw:
            b = self.builder.for_file(raw.file)
            if raw.id in first:
                prev = first[raw.id]
                self.problem(
                    raw.file,
                    raw.key.line,
                    raw.key.col,
                    f"duplicate scene id '{raw.id}' (also at {prev.file}:{prev.key.line}:"
                    f"{prev.key.col})",
                )
                continue
            first[raw.id] = raw
            scene = build_scene(b, raw)
            if scene is not None:
                scenes[raw.id] = scene
        return scenes


def _unknown_scene(name: str, scenes: dict[str, Scene]) -> str:
    from difflib import get_close_matches

    close = get_close_matches(name, list(scenes), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown scene '{name}'{hint}"
