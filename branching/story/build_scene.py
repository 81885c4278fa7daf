"""One scene mapping -> `model.Scene` (text, choices, routes, ending), and references.

Split from `build` to keep each module small: `build` knows the scalar shapes,
this module knows how a scene and its choices are assembled from them and which
cross-scene rules hold (every scene has exactly one way on; references resolve).
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches

from branching.story.build import _ID, Builder, RawScene, slug
from branching.story.model import Choice, Effect, Ending, Pos, Route, Scene, TextVariant
from branching.story.yamlread import Map, Node, Scalar, Seq

_WAYS = ("choices", "next", "random", "ending")


def build_scene(b: Builder, raw: RawScene) -> Scene | None:
    if not _ID.match(raw.id):
        b.error(raw.key, f"scene id '{raw.id}' must be letters, digits, '_', '.', '-'")
    node = raw.value
    where = f"scene '{raw.id}'"
    if not isinstance(node, Map):
        b.expected(node, "a mapping (text, choices, next, ...)", raw.id)
        return None
    b.check_keys(node, "scene", where)
    title = b.opt_text(node, "title") or raw.id
    chapter = b.opt_text(node, "chapter") or raw.chapter
    ending = _ending(b, b.get(node, "ending"), title)
    ways = [w for w in _WAYS if w in node.pairs and (w != "ending" or ending is not None)]
    if not ways:
        b.error(raw.key, f"{where} is a dead end: give it choices, next, random or ending")
    elif len(ways) > 1:
        b.error(raw.key, f"{where} has {' and '.join(ways)}; a scene has exactly one of them")
    on_enter = _on_enter(b, b.get(node, "on_enter"))
    choices = _choices(b, b.get(node, "choices"), where)
    next_routes = _next(b, b.get(node, "next"))
    random_routes = _random(b, b.get(node, "random"))
    timer_node = b.get(node, "timer")
    timer = b.number(timer_node, "timer")
    if timer_node is not None and "choices" not in node.pairs:
        b.warning(timer_node, f"'timer' has no effect: {where} is not a choice point")
    rewind, rewind_pos = _rewind(b, b.get(node, "rewind"))
    if rewind and ending is None:
        b.error(node.pairs["rewind"][0], "'rewind' is only for endings")
    return Scene(
        id=raw.id,
        title=title,
        text=_texts(b, b.get(node, "text")),
        chapter=chapter,
        tags=b.tags(b.get(node, "tags")),
        on_enter=on_enter,
        choices=choices,
        next=next_routes,
        random=random_routes,
        timer=float(timer) if timer is not None else None,
        ending=ending,
        rewind=rewind,
        rewind_pos=rewind_pos,
        pos=b.pos(raw.key),
    )


def _texts(b: Builder, node: Node | None) -> tuple[TextVariant, ...]:
    if node is None:
        return ()
    if isinstance(node, Scalar):
        tpl = b.template(node, "text")
        return (TextVariant(tpl, None, b.pos(node)),) if tpl is not None else ()
    if not isinstance(node, Seq):
        b.expected(node, "text or a list of {if, text} variants", "text")
        return ()
    out: list[TextVariant] = []
    for i, item in enumerate(node.items):
        if isinstance(item, Scalar):
            tpl = b.template(item, "text")
            cond = None
        elif (m := b._map(item, "variant", "a text variant", "text")) is not None:
            tpl = b.template(b.get(m, "text"), "text")
            cond = b.condition(b.get(m, "if"), "if")
        else:
            continue
        if cond is None and i < len(node.items) - 1:
            b.warning(
                item,
                "a variant without 'if' always holds: the variants after it are "
                "never shown (put it last)",
            )
        if tpl is not None:
            if_pos = b.key_pos(item, "if") if isinstance(item, Map) else b.pos(item)
            out.append(TextVariant(tpl, cond, b.pos(item), if_pos))
    return tuple(out)


def _on_enter(b: Builder, node: Node | None) -> Effect:
    if node is None:
        return Effect()
    m = b._map(node, "effects", "'on_enter'", "on_enter")
    return b.effect(m) if m is not None else Effect()


def _choices(b: Builder, node: Node | None, where: str) -> tuple[Choice, ...]:
    if node is None:
        return ()
    if not isinstance(node, Seq) or not node.items:
        b.expected(node, "a list of choices", "choices")
        return ()
    out: list[Choice] = []
    ids: dict[str, Node] = {}
    default_at: Node | None = None
    for index, item in enumerate(node.items):
        m = b._map(item, "choice", "a choice", "choices")
        if m is None:
            continue
        choice = _choice(b, m, index)
        if choice is None:
            continue
        id_node = b.get(m, "id") or b.get(m, "label") or m
        if choice.id in ids:
            first = ids[choice.id]
            how = "" if choice.explicit_id else "; it comes from the label, so give one an 'id'"
            b.error(
                id_node,
                f"duplicate choice id '{choice.id}' in {where} (first at line {first.line}){how}",
            )
            continue
        ids[choice.id] = id_node
        if choice.default:
            if default_at is not None:
                b.error(
                    m.pairs["default"][1],
                    f"{where} has two 'default: true' choices (first at line {default_at.line})",
                )
            else:
                default_at = m.pairs["default"][1]
                if choice.condition is not None or choice.requires is not None:
                    b.warning(
                        default_at,
                        "'default' on a conditional choice: when it is hidden "
                        "or locked the first available choice is taken instead",
                    )
        out.append(choice)
    return tuple(out)


def _choice(b: Builder, m: Map, index: int) -> Choice | None:
    label = b.template(b.get(m, "label"), "label")
    goto_node = b.get(m, "goto")
    goto = b.ident(goto_node, "goto")
    explicit = b.opt_id(m, "id")
    if goto_node is not None and goto is not None:
        b.ref(goto_node, goto, "goto")
    if label is None or goto is None or goto_node is None:
        return None
    return Choice(
        id=explicit or slug(label.source, index + 1),
        label=label,
        goto=goto,
        index=index,
        condition=b.condition(b.get(m, "if"), "if"),
        requires=b.condition(b.get(m, "requires"), "requires"),
        effect=b.effect(m),
        default=b.boolean(b.get(m, "default"), "default"),
        once=b.boolean(b.get(m, "once"), "once"),
        tags=b.tags(b.get(m, "tags")),
        pos=b.pos(m),
        goto_pos=b.pos(goto_node),
        explicit_id=explicit is not None,
        if_pos=b.key_pos(m, "if"),
        requires_pos=b.key_pos(m, "requires"),
        once_pos=b.key_pos(m, "once"),
    )


def _next(b: Builder, node: Node | None) -> tuple[Route, ...]:
    if node is None:
        return ()
    if isinstance(node, Scalar):
        goto = b.ident(node, "next")
        if goto is None:
            return ()
        b.ref(node, goto, "next")
        return (Route(goto, pos=b.pos(node), goto_pos=b.pos(node)),)
    return _routes(b, node, "route", "next")


def _random(b: Builder, node: Node | None) -> tuple[Route, ...]:
    if node is None:
        return ()
    return _routes(b, node, "random_route", "random")


def _routes(b: Builder, node: Node, kind: str, key: str) -> tuple[Route, ...]:
    if not isinstance(node, Seq) or not node.items:
        shape = (
            "a scene id or a list of {if, goto} routes"
            if key == "next"
            else ("a list of {goto, weight, if} routes")
        )
        b.expected(node, shape, key)
        return ()
    out: list[Route] = []
    for item in node.items:
        m = b._map(item, kind, f"a '{key}' route", key)
        if m is None:
            continue
        goto_node = b.get(m, "goto")
        goto = b.ident(goto_node, "goto")
        cond = b.condition(b.get(m, "if"), "if")
        weight = b.number(b.get(m, "weight"), "weight", positive=True)
        if goto is None or goto_node is None:
            continue
        b.ref(goto_node, goto, key)
        out.append(
            Route(
                goto,
                cond,
                float(weight if weight is not None else 1.0),
                b.pos(m),
                b.pos(goto_node),
                b.key_pos(m, "if"),
            )
        )
    if key == "next" and out and out[-1].condition is not None:
        b.warning(
            node.items[-1],
            "the last route has an 'if': when no route holds the "
            "playthrough is stuck (end the list with a route without 'if')",
        )
    return tuple(out)


def _ending(b: Builder, node: Node | None, title: str) -> Ending | None:
    if node is None:
        return None
    if isinstance(node, Scalar):
        return Ending("neutral", title) if b.boolean(node, "ending") else None
    m = b._map(node, "ending", "'ending'", "ending")
    if m is None:
        return None
    return Ending(b.opt_text(m, "kind") or "neutral", b.opt_text(m, "title") or title)


def _rewind(b: Builder, node: Node | None) -> tuple[tuple[str, ...], tuple[Pos, ...]]:
    if node is None:
        return (), ()
    items = node.items if isinstance(node, Seq) else [node]
    ids: list[str] = []
    where: list[Pos] = []
    for item in items:
        sid = b.ident(item, "rewind")
        if sid is not None:
            b.ref(item, sid, "rewind")
            ids.append(sid)
            where.append(b.pos(item))
    return tuple(ids), tuple(where)


def resolve_references(b: Builder, scenes: Mapping[str, Scene]) -> None:
    """Report every reference to a scene (or choice) that does not exist."""
    for file, line, col, target, choice, kind in b.shared.refs:
        scene = scenes.get(target)
        if scene is None:
            close = get_close_matches(target, list(scenes), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            b.report(file, line, col, f"{kind}: unknown scene '{target}'{hint}")
        elif kind == "rewind" and not scene.choices:
            b.report(file, line, col, f"rewind: '{target}' is not a choice point")
        elif choice is not None and scene.choice(choice) is None:
            known = [c.id for c in scene.choices]
            close = get_close_matches(choice, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            b.report(file, line, col, f"chosen(): scene '{target}' has no choice '{choice}'{hint}")
