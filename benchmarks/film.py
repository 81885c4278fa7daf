"""Generate a story with the shape of a real interactive film, for tests and benchmarks.

`python benchmarks/film.py OUT_DIR [--seed N]` writes OUT_DIR/story.yaml and
one chapter file per chapter. The output is deterministic for a seed; the
committed copy in tests/fixtures/film/ is seed 1 (regenerate it with
`python benchmarks/film.py tests/fixtures/film`).

The shape follows issue 11: about 300 scenes in seven chapters, about 170
timed choice points (the story's `timer: 10`), 60 variables (48 booleans,
four small string enums, two counters changed by `add`), about 600
conditions (`if`, `requires`, text variants, `next` routes), four endings
whose shortest choice sequences are 18 to 34 choices deep, and tens of
millions of reachable (scene, state) pairs.

How the state space is kept near 30 million and not 2^60: each chapter has
six scratch flags, read in that chapter and the next one, and reset (`set`
false) when the chapter after that opens; twelve long-term flags and the
enums are set in the first chapters and read in the last ones. A chapter is
four layers of six choice points; a playthrough crosses one choice point per
layer, so a path through the film is about four choices per chapter, and
the scene ids (`c3_l2_4`, `c3_l2_4_p`, `c3_open`) stay the same whatever the
seed. Realistic touches: text variants that mention earlier choices (the
cereal shows up in the advert), locked `requires` choices, a `once` choice,
a `random` scene, a loop back to an earlier chapter for the secret ending,
and `rewind` on endings.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

CHAPTERS = [
    ("Morning", "m", ["alarm", "shower", "radio", "toast", "letter", "cat"]),
    ("The Bus", "b", ["seat", "ticket", "driver", "window", "stranger", "map"]),
    ("The Office", "o", ["boss", "desk", "pitch", "coffee", "email", "badge"]),
    ("The Studio", "s", ["tape", "mixer", "demo", "band", "lights", "cable"]),
    ("The Visit", "v", ["doctor", "pills", "couch", "notes", "clock", "door"]),
    ("The Night", "n", ["street", "bar", "phone", "rain", "mirror", "key"]),
    ("The Signal", "g", ["mast", "code", "voice", "reel", "switch", "dawn"]),
]
LONG_TERM = [
    "kept_photo",
    "told_dad",
    "took_pills",
    "met_colin",
    "read_file",
    "lost_wallet",
    "saved_demo",
    "broke_mug",
    "called_mum",
    "skipped_work",
    "found_tape",
    "trusted_boss",
]
ENUMS = {
    "cereal": ("none", ["sugar_puffs", "frosties", "porridge"]),
    "song": ("none", ["thompson", "bow", "yazoo"]),
    "ally": ("none", ["colin", "dad", "doctor"]),
    "route": ("none", ["bus", "walk", "taxi"]),
}
LAYERS = 4
WIDTH = 6
SENTENCES = [
    "The light through the blinds is the colour of weak tea.",
    "Somewhere a radio is playing a song you almost remember.",
    "A clock ticks louder than any clock should.",
    "Your hands are cold, and you cannot say why.",
    "Someone has written a number on the back of your hand.",
    "The air smells of solder and burnt toast.",
    "Everything looks the way it did yesterday, which is the problem.",
    "A car alarm starts and stops three streets away.",
    "You have the strange feeling of being watched from very far away.",
    "The floor creaks exactly where you knew it would.",
]


def flags(ch: int) -> list[str]:
    _, prefix, nouns = CHAPTERS[ch]
    return [f"{prefix}_{noun}" for noun in nouns]


class Film:
    """Builds the scenes of every chapter, deterministically from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.chapters: list[dict[str, Any]] = [{} for _ in CHAPTERS]

    def text(self, what: str) -> str:
        return f"{what} {self.rng.choice(SENTENCES)}"

    def cp(self, ch: int, layer: int, j: int) -> str:
        return f"c{ch + 1}_l{layer}_{j}"

    def build(self) -> None:
        for ch in range(len(CHAPTERS)):
            self.chapter(ch)

    def chapter(self, ch: int) -> None:
        name, _, nouns = CHAPTERS[ch]
        scenes = self.chapters[ch]
        mine = flags(ch)
        prev = flags(ch - 1) if ch else []
        opening: dict[str, Any] = {
            "title": f"{name}",
            "text": self.text(f"Chapter {ch + 1}: {name.lower()}."),
        }
        if ch == 0:
            opening["choices"] = [
                {
                    "id": f"way{j + 1}",
                    "label": f"Start with the {nouns[j]}",
                    "goto": self.cp(0, 0, j),
                }
                for j in range(WIDTH)
            ]
            opening["choices"][0]["default"] = True
        else:
            opening["next"] = [
                {"if": f"{prev[0]} and {prev[1]}", "goto": self.cp(ch, 0, 0)},
                {"if": f"{LONG_TERM[ch % 12]} and not {prev[2]}", "goto": self.cp(ch, 0, 1)},
                {"if": f"{prev[3]}", "goto": self.cp(ch, 0, 2)},
                {"if": f'{list(ENUMS)[(ch - 1) % 4]} != "none"', "goto": self.cp(ch, 0, 3)},
                {"if": f"{prev[4]} or {prev[5]}", "goto": self.cp(ch, 0, 4)},
                {"goto": self.cp(ch, 0, 5)},
            ]
        scenes[f"c{ch + 1}_open"] = opening
        for layer in range(LAYERS):
            for j in range(WIDTH):
                self.choice_point(ch, layer, j, mine, prev)
        closing: dict[str, Any] = {
            "title": f"End of {name.lower()}",
            "text": self.text("The chapter closes behind you."),
            # the last chapter's close gets its routes to the endings in endings()
            "next": f"c{ch + 2}_open" if ch + 1 < len(CHAPTERS) else "end_broadcast",
        }
        scenes[f"c{ch + 1}_close"] = closing

    def target(self, ch: int, layer: int, j: int) -> str:
        if layer + 1 < LAYERS:
            return self.cp(ch, layer + 1, j % WIDTH)
        return f"c{ch + 1}_close"

    def choice_point(self, ch: int, layer: int, j: int, mine: list[str], prev: list[str]) -> None:
        rng = self.rng
        sid = self.cp(ch, layer, j)
        noun = CHAPTERS[ch][2][(layer + j) % 6]
        scene: dict[str, Any] = {"title": f"The {noun} ({layer + 1}.{j + 1})"}
        if prev and layer == (
            3 if ch == 5 else 2
        ):  # the previous chapter fades: its flags are never read again
            scene["on_enter"] = {"set": {f: False for f in prev}}
        variants: list[dict[str, Any]] = []
        if ch >= 1:
            variants.append(
                {
                    "if": f"{prev[(j + layer) % 6] if layer <= 1 else mine[(j + layer) % 6]}",
                    "text": self.text(f"You remember the {CHAPTERS[ch - 1][2][(j + layer) % 6]}."),
                }
            )
        if 1 <= ch <= 3 and layer >= 2:
            lt = LONG_TERM[(7, 8, 9, 11)[j % 4]]
            variants.append(
                {"if": lt, "text": self.text(f"You think about how you {lt.replace('_', ' ')}.")}
            )
        if 1 <= ch <= 4 and j % 2 == 0:
            enum = list(ENUMS)[ch - 1]
            value = ENUMS[enum][1][layer % 3]
            variants.append(
                {
                    "if": f'{enum} == "{value}"',
                    "text": self.text(f"An advert for {value.replace('_', ' ')} flickers past."),
                }
            )
        variants.append({"text": self.text(f"The {noun} waits for you to decide.")})
        scene["text"] = variants
        choices: list[dict[str, Any]] = []
        n = 2 + (j % 2)
        for k in range(n):
            flag = mine[rng.randrange(6)]
            choice: dict[str, Any] = {
                "id": f"opt{k + 1}",
                "label": f"{['Take', 'Leave', 'Question', 'Ignore'][k]} the {noun}",
                "goto": self.target(ch, layer, j + k),
            }
            effect: dict[str, Any] = {}
            if k < 2:
                effect[flag] = k == 0
            if ch < 3 and layer == j % LAYERS and k == 0:
                effect[LONG_TERM[(ch * 4 + j) % 12]] = True
            if ch < 4 and layer == 0 and j < 4 and k == 1:
                enum = list(ENUMS)[ch]
                effect[enum] = ENUMS[enum][1][j % 3]
            if effect:
                choice["set"] = effect
            if k == 1 and (layer + j) % 3 == 0:
                choice["add"] = {"trust": 1}
            choices.append(choice)
        choices[rng.randrange(n)]["default"] = True
        if layer >= 1:
            extra = {
                "id": "remember",
                "label": f"Remember the {CHAPTERS[max(ch - 1, 0)][2][j % 6]}",
                "goto": self.target(ch, layer, j + 3),
            }
            if (j + layer) % 2 == 0:
                extra["if"] = f"{mine[j % 6]} and not {mine[(j + 1) % 6]}"
            else:
                extra["requires"] = f"trust >= {1 + layer % 3}" if ch >= 2 else f"{mine[j % 6]}"
            choices.append(extra)
        if ch >= 4 and layer >= 2:
            lt = LONG_TERM[(ch + j + layer) % 6]
            old = LONG_TERM[(ch + j + layer + 1 + j % 5) % 6]
            choices.append(
                {
                    "id": "recall",
                    "label": "Do what you did before",
                    "goto": self.target(ch, layer, j + 4),
                    "if": f"{lt} and not {old}",
                    "add": {"doubt": 1},
                }
            )
        if layer + 1 < LAYERS:
            passing = f"{sid}_p"
            chosen = choices[0]
            after = chosen["goto"]
            chosen["goto"] = passing
            self.chapters[ch][passing] = {
                "title": f"After the {noun}",
                "text": [
                    {
                        "if": f"{mine[j % 6]}",
                        "text": self.text(f"The {noun} is still on your mind."),
                    },
                    {"text": self.text("You move on.")},
                ],
                "next": [
                    {
                        "if": f"{mine[(j + 2) % 6]} and {prev[j % 6]}"
                        if prev and layer == 0
                        else f"{mine[(j + 2) % 6]}",
                        "goto": self.cp(ch, layer + 1, (j + 1) % WIDTH),
                    },
                    {"goto": after},
                ],
            }
        scene["choices"] = choices
        self.chapters[ch][sid] = scene


def endings(film: Film) -> None:
    """The four endings, the loop back for the secret one, the random scene, `once`."""
    c5, c6, c7 = film.chapters[4], film.chapters[5], film.chapters[6]
    # Ending 1 (bad), early: from chapter five's first layer.
    c5["c5_l0_0"]["choices"].append(
        {
            "id": "give_up",
            "label": "Give up and go home",
            "goto": "end_wreck",
            "requires": "took_pills or doubt >= 3",
        }
    )
    c5["end_wreck"] = {
        "title": "Wreckage",
        "text": "You go home, lie down, and the film simply stops. "
        "The credits roll over a blank wall.",
        "ending": {"kind": "bad", "title": "Wreckage"},
        "rewind": ["c5_l0_0", "c4_l0_0"],
    }
    # Ending 2 (neutral): at the end of chapter six.
    c6["c6_close"]["next"] = [
        {"if": 'ally == "doctor" and not found_tape', "goto": "end_quiet"},
        {"goto": "c7_open"},
    ]
    c6["end_quiet"] = {
        "title": "A quiet life",
        "text": [
            {
                "if": 'cereal == "frosties"',
                "text": "You eat Frosties every morning for forty years.",
            },
            {"text": "You take the job, the pills and the quiet life. It is not so bad."},
        ],
        "ending": {"kind": "neutral", "title": "A Quiet Life"},
        "rewind": ["c6_l0_0"],
    }
    # A random scene in chapter four: the weather on the way to the studio.
    c4 = film.chapters[3]
    c4["c4_weather"] = {
        "title": "The weather",
        "text": "The sky cannot make up its mind.",
        "random": [
            {"goto": "c4_l0_2", "weight": 3},
            {"goto": "c4_l0_3", "weight": 1, "if": 'route != "taxi"'},
        ],
    }
    c4["c4_open"]["next"][-1] = {"goto": "c4_weather"}
    c4["c4_weather"]["random"].append({"goto": "c4_l0_5"})
    # Endings 3 and 4 at the close of chapter seven; the secret one needs the loop.
    c7 = film.chapters[6]
    c7["c7_l2_0"]["choices"].append(
        {
            "id": "play_again",
            "label": "Play the tape again from the beginning of the night",
            "goto": "c6_l2_0",
            "once": True,
            "if": "found_tape",
        }
    )
    # The early chapters' small memories are gone by the end of the night.
    c7["c7_close"]["on_enter"] = {"set": {LONG_TERM[i]: False for i in (7, 8, 9)}}
    c7["c7_close"]["next"] = [
        {"if": 'visits("c6_l2_0") >= 2 and song == "yazoo" and kept_photo', "goto": "end_signal"},
        {"goto": "end_broadcast"},
    ]
    c7["end_broadcast"] = {
        "title": "The broadcast",
        "text": "Your voice goes out over the city. Somewhere, somebody turns the radio up.",
        "ending": {"kind": "good", "title": "On Air"},
        "rewind": ["c7_l0_0", "c6_l0_0"],
    }
    c7["end_signal"] = {
        "title": "The signal",
        "text": [
            {
                "if": 'song == "yazoo"',
                "text": "The voice hums the song you played at dawn, and you finally understand.",
            },
            {"text": "The voice says your name, and you finally understand."},
        ],
        "ending": {"kind": "secret", "title": "The Signal"},
        "rewind": ["c7_l2_0"],
    }


def story_files(seed: int) -> dict[str, str]:
    """File name -> YAML text of the whole story."""
    import yaml

    film = Film(seed)
    film.build()
    endings(film)
    state: dict[str, Any] = {}
    for ch in range(len(CHAPTERS)):
        state.update({f: False for f in flags(ch)})
    state.update({f: False for f in LONG_TERM})
    state.update({name: initial for name, (initial, _) in ENUMS.items()})
    state.update({"trust": 0, "doubt": 0})
    head: dict[str, Any] = {
        "branching": 1,
        "id": "film",
        "title": "The Long Night",
        "author": "benchmarks/film.py",
        "description": f"A generated story with the shape of an interactive film (seed {seed}).",
        "version": f"seed-{seed}",
        "start": "c1_open",
        "timer": 10,
        "state": state,
        "include": [f"chapters/{i + 1:02d}-{c[1]}.yaml" for i, c in enumerate(CHAPTERS)],
    }

    def dump(data: dict[str, Any]) -> str:
        return yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)

    files = {"story.yaml": "# Generated by benchmarks/film.py: do not edit by hand.\n" + dump(head)}
    for i, (name, prefix, _) in enumerate(CHAPTERS):
        body = {"chapter": name, "scenes": film.chapters[i]}
        files[f"chapters/{i + 1:02d}-{prefix}.yaml"] = dump(body)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write story.yaml and chapters/ into")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    args = parser.parse_args(argv)
    for name, text in story_files(args.seed).items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}/story.yaml and {len(CHAPTERS)} chapter files (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
