"""The story format's keys, written down once.

The loader validates every mapping against these tables (unknown keys, with a
"did you mean"), and `schema` derives the JSON Schema for editors from the very
same tables, so the two cannot drift apart. Each key names a *shape*; the
shapes are the small vocabulary both sides understand.
"""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_VERSION = 1
ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    shape: str
    doc: str
    required: bool = False


# Shapes:
#   text        a string as written (never a bool/number/date)
#   id          a string matching ID_PATTERN
#   number      a decimal int or float >= 0
#   positive    a decimal int or float > 0
#   bool        true / false
#   version     the format version (1)
#   condition   an expression string
#   template    text that may interpolate {expr}
#   texts       template, or a list of {if, text} variants
#   next        a scene id, or a list of {if, goto} routes
#   random      a list of {goto, weight, if} routes
#   ending      true/false, or {kind, title}
#   ids         a list of ids
#   tags        a list of text
#   paths       a list of relative file paths
#   state       mapping of variable -> bool/int/float/str
#   values      mapping of variable -> literal value (set)
#   amounts     mapping of variable -> number (add)
#   effects     {set, add}
#   choices     a list of choices
#   scenes      mapping of scene id -> scene

STORY = (
    Key("branching", "version", "Format version; 1 today.", required=True),
    Key("id", "id", "Stable id of the story across versions; default: file stem or folder name."),
    Key("title", "text", "Title shown to viewers; default: the id."),
    Key("author", "text", "Author shown to viewers and producers."),
    Key("description", "text", "A short description for the library."),
    Key("language", "text", "Language of the text, e.g. en."),
    Key("version", "text", "The author's label for this revision (free text)."),
    Key("start", "id", "Id of the first scene.", required=True),
    Key("timer", "number", "Seconds every choice point waits before its default; 0 = untimed."),
    Key("state", "state", "Variables and their initial values (bool, int, float, str)."),
    Key("include", "paths", "Chapter files, relative to this file."),
    Key("scenes", "scenes", "Scene id -> scene."),
)

CHAPTER = (
    Key("chapter", "text", "Default chapter of the scenes in this file."),
    Key("include", "paths", "More chapter files, relative to this file."),
    Key("scenes", "scenes", "Scene id -> scene.", required=True),
)

SCENE = (
    Key("text", "texts", "What the viewer reads: text, or a list of {if, text} variants."),
    Key("title", "text", "Short label for flowcharts and analytics; default: the scene id."),
    Key("chapter", "text", "Grouping label; default: the chapter file's chapter."),
    Key("tags", "tags", "Labels for analytics grouping, e.g. product-placement."),
    Key("on_enter", "effects", "{set, add} applied each time the scene is entered."),
    Key("choices", "choices", "The options: the scene is a choice point."),
    Key("next", "next", "What follows: a scene id, or a list of {if, goto} routes."),
    Key("random", "random", "A list of {goto, weight, if} routes, one drawn by weight."),
    Key("timer", "number", "Seconds for this choice point, overriding the story's; 0 = untimed."),
    Key("ending", "ending", "Marks an ending: {kind, title} or true."),
    Key("rewind", "ids", "On an ending: earlier choice points the viewer may go back to."),
)

CHOICE = (
    Key("label", "template", "The text of the option ({expr} allowed).", required=True),
    Key("goto", "id", "Target scene id.", required=True),
    Key("id", "id", "Stable id, unique within the scene; default: a slug of the label."),
    Key("if", "condition", "When false the choice is hidden."),
    Key("requires", "condition", "When false the choice is shown locked."),
    Key("set", "values", "Variables assigned when the choice is taken."),
    Key("add", "amounts", "Numbers added to variables when the choice is taken."),
    Key("default", "bool", "Taken when the timer runs out (at most one per scene)."),
    Key("once", "bool", "The choice disappears once taken in this playthrough."),
    Key("tags", "tags", "Labels for analytics grouping."),
)

VARIANT = (
    Key("if", "condition", "The variant is shown when this holds; omit on the last one."),
    Key("text", "template", "The text of this variant.", required=True),
)

ROUTE = (
    Key("if", "condition", "The route is taken when this holds; omit on the last one."),
    Key("goto", "id", "Target scene id.", required=True),
)

RANDOM_ROUTE = (
    Key("goto", "id", "Target scene id.", required=True),
    Key("weight", "positive", "Relative weight of this route (default 1)."),
    Key("if", "condition", "The route can be drawn only when this holds."),
)

EFFECTS = (
    Key("set", "values", "Variables assigned."),
    Key("add", "amounts", "Numbers added to variables."),
)

ENDING = (
    Key("kind", "text", "good, bad, neutral, secret, or your own word; default neutral."),
    Key("title", "text", "Title of the ending; default: the scene's title."),
)

OBJECTS: dict[str, tuple[Key, ...]] = {
    "story": STORY,
    "chapter": CHAPTER,
    "scene": SCENE,
    "choice": CHOICE,
    "variant": VARIANT,
    "route": ROUTE,
    "random_route": RANDOM_ROUTE,
    "effects": EFFECTS,
    "ending": ENDING,
}

KEYS: dict[str, dict[str, Key]] = {
    name: {k.name: k for k in keys} for name, keys in OBJECTS.items()
}

RESERVED_NAMES = frozenset(
    {
        "true",
        "false",
        "True",
        "False",
        "and",
        "or",
        "not",
        "in",
        "is",
        "None",
        "null",
        "visited",
        "visits",
        "chosen",
        "turns",
    }
)
