"""Seeded synthetic street scenes in the raw GTA, Cityscapes and Synthia folder layouts.

Why: real GTA/Cityscapes (~70 GB) cannot be fetched on our machines, yet the whole UDA method
(converters, RCS statistics, dataset classes, training, evaluation) should run end to end. The
generator draws a *source* domain (game-like: sunny, saturated, crisp) and a *target* domain
(camera-like: overcast palette, other textures, low contrast, blur, sensor noise, smaller objects,
other class frequencies) from ONE scene grammar, so the 19 classes stay recognisable by shape and
context while their appearance shifts: source-only training falls below a target oracle, and
adaptation has something to recover.

Every image is drawn from its own generator seeded by (seed, domain, split, index): the bytes do
not depend on global RNG state, call order or process count. Drawing is vectorised: shapes are
rasterised with cv2 into an instance map (H, W), and colours/textures are looked up per instance.

CLI:
    python tools/synthetic/generate.py OUT_ROOT --num-source 40 --num-target-train 40 \
        --num-target-val 20 --size 128 256 --seed 0 [--synthia] [--shift-strength 0.6]
"""
import argparse
import dataclasses
import os
import os.path as osp
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

# Cityscapes label ids (cityscapesscripts `labels`); the generator draws in this id space.
UNLABELED, EGO_VEHICLE, RECT_BORDER, OUT_OF_ROI, STATIC, DYNAMIC, GROUND = 0, 1, 2, 3, 4, 5, 6
ROAD, SIDEWALK, PARKING, RAIL_TRACK, BUILDING, WALL, FENCE = 7, 8, 9, 10, 11, 12, 13
GUARD_RAIL, BRIDGE, TUNNEL, POLE, POLEGROUP = 14, 15, 16, 17, 18
TRAFFIC_LIGHT, TRAFFIC_SIGN = 19, 20
VEGETATION, TERRAIN, SKY, PERSON, RIDER, CAR, TRUCK, BUS = 21, 22, 23, 24, 25, 26, 27, 28
CARAVAN, TRAILER, TRAIN, MOTORCYCLE, BICYCLE = 29, 30, 31, 32, 33
# Internal id for lane markings: road in GTA/Cityscapes, its own class (22) in Synthia.
LANE_MARKING = 34
NUM_INTERNAL_IDS = 35

# Internal id -> Synthia id (RAND-CITYSCAPES table); classes Synthia lacks map to void (0).
_SYNTHIA_ID = {ROAD: 3, SIDEWALK: 4, BUILDING: 2, WALL: 21, FENCE: 5, POLE: 7,
               TRAFFIC_LIGHT: 15, TRAFFIC_SIGN: 9, VEGETATION: 6, TERRAIN: 16, SKY: 1, PERSON: 10,
               RIDER: 17, CAR: 8, TRUCK: 18, BUS: 19, TRAIN: 20, MOTORCYCLE: 12, BICYCLE: 11,
               PARKING: 13, LANE_MARKING: 22}

# Texture kinds: a multiplicative field (H, W) per kind, chosen per instance.
FLAT, FINE, BLOTCH, WINDOWS, TILES, LATTICE, BRICKS, SKYGRAD = range(8)
NUM_TEXTURES = 8

# Objects the scene samples, with the number a source image has on average.
OBJECT_KINDS = ('car', 'truck', 'bus', 'train', 'person', 'bicycle', 'motorcycle', 'pole',
                'tree', 'wall', 'fence', 'terrain')
# Image i always contains FORCED_CYCLE[i % len]: every class appears in any 9 consecutive images.
FORCED_CYCLE = ('train', 'bus', 'truck', 'motorcycle', 'bicycle', 'pole_light', 'wall', 'fence',
                'terrain')

RGB = Tuple[float, float, float]


@dataclasses.dataclass(frozen=True)
class DomainStyle:
    """Appearance and statistics of one domain; numeric fields blend linearly between domains.

    palette: internal id -> base RGB of the class. vehicle_colours: paint colours cars draw from.
    colour_jitter: std of the per-instance RGB gain. texture_scale: multiplier of every texture
    period (window grid, tiles, lattice, noise cells). texture_contrast: amplitude of texture
    modulation. saturation/contrast/brightness/gamma/cast: global colour grading (brightness in
    0..255 units, cast = per-channel RGB gain). sun: strength of a left-right light gradient.
    vignette: darkening at the corners. blur_sigma / noise_sigma: Gaussian blur (px at 256 px
    image height) and sensor noise (0..255 units). object_scale: size of traffic participants.
    horizon: range of the horizon height as a fraction of the image height. rates: expected number
    of each OBJECT_KINDS item per image (objects; for wall/fence/terrain the probability).
    extra_ignore: probability scale of Cityscapes' ignored regions (ego vehicle, rectification
    border, parking, guard rail, static/dynamic objects...). camera_artefacts: probability of
    Cityscapes' ego-vehicle hood, rectification border and out-of-roi corner (all ignored).
    """
    palette: Mapping[int, RGB]
    vehicle_colours: Sequence[RGB]
    colour_jitter: float
    texture_scale: float
    texture_contrast: float
    saturation: float
    contrast: float
    brightness: float
    gamma: float
    cast: RGB
    sun: float
    vignette: float
    blur_sigma: float
    noise_sigma: float
    object_scale: float
    horizon: Tuple[float, float]
    rates: Mapping[str, float]
    extra_ignore: float
    camera_artefacts: float


_COMMON_PALETTE = {UNLABELED: (20, 20, 20), EGO_VEHICLE: (35, 35, 40), RECT_BORDER: (0, 0, 0),
                   OUT_OF_ROI: (10, 10, 10), STATIC: (110, 90, 70), DYNAMIC: (140, 100, 60),
                   GROUND: (120, 100, 90), PARKING: (150, 120, 130), RAIL_TRACK: (100, 80, 70),
                   GUARD_RAIL: (170, 170, 160), BRIDGE: (130, 120, 110), TUNNEL: (60, 60, 60),
                   POLEGROUP: (120, 120, 120), CARAVAN: (210, 200, 180), TRAILER: (180, 160, 140),
                   LANE_MARKING: (235, 235, 225)}


def source_style() -> DomainStyle:
    """GTA-like look: sunny, warm and saturated palette, crisp textures, big vehicles."""
    palette = dict(_COMMON_PALETTE)
    palette.update({
        ROAD: (128, 118, 110), SIDEWALK: (200, 170, 150), BUILDING: (185, 140, 95),
        WALL: (205, 195, 160), FENCE: (150, 115, 70), POLE: (115, 115, 110),
        TRAFFIC_LIGHT: (45, 45, 30), TRAFFIC_SIGN: (225, 200, 40), VEGETATION: (70, 155, 40),
        TERRAIN: (175, 170, 80), SKY: (90, 160, 240), PERSON: (200, 70, 60), RIDER: (60, 70, 200),
        CAR: (200, 40, 40), TRUCK: (235, 235, 230), BUS: (230, 180, 30), TRAIN: (205, 60, 40),
        MOTORCYCLE: (30, 30, 35), BICYCLE: (40, 95, 170)})
    return DomainStyle(
        palette=palette,
        vehicle_colours=((210, 30, 30), (30, 80, 210), (230, 200, 20), (40, 160, 60),
                         (240, 240, 240), (25, 25, 25), (240, 120, 20)),
        colour_jitter=0.08, texture_scale=1.0, texture_contrast=1.0, saturation=1.25,
        contrast=1.1, brightness=8.0, gamma=0.95, cast=(1.05, 1.0, 0.92), sun=0.25,
        vignette=0.0, blur_sigma=0.0, noise_sigma=0.0, object_scale=1.1, horizon=(0.38, 0.48),
        rates=dict(car=3.0, truck=0.8, bus=0.4, train=0.15, person=2.0, bicycle=0.4,
                   motorcycle=0.5, pole=2.5, tree=2.0, wall=0.5, fence=0.4, terrain=0.4),
        extra_ignore=0.2, camera_artefacts=0.0)


def cityscapes_look() -> DomainStyle:
    """The Cityscapes-like end point (shift_strength=1): overcast grey-green, soft and noisy."""
    palette = dict(_COMMON_PALETTE)
    palette.update({
        ROAD: (88, 92, 102), SIDEWALK: (140, 134, 142), BUILDING: (118, 116, 112),
        WALL: (150, 138, 125), FENCE: (100, 112, 102), POLE: (85, 92, 95),
        TRAFFIC_LIGHT: (25, 30, 32), TRAFFIC_SIGN: (200, 205, 215), VEGETATION: (62, 88, 45),
        TERRAIN: (128, 112, 72), SKY: (205, 215, 225), PERSON: (60, 60, 75), RIDER: (90, 60, 60),
        CAR: (110, 115, 120), TRUCK: (175, 178, 168), BUS: (205, 205, 210), TRAIN: (225, 222, 215),
        MOTORCYCLE: (55, 55, 60), BICYCLE: (30, 30, 30)})
    return DomainStyle(
        palette=palette,
        vehicle_colours=((120, 120, 125), (20, 20, 22), (225, 225, 228), (170, 172, 175),
                         (30, 40, 80), (90, 25, 30), (60, 70, 60)),
        colour_jitter=0.12, texture_scale=1.7, texture_contrast=0.6, saturation=0.7,
        contrast=0.75, brightness=-10.0, gamma=1.15, cast=(0.95, 1.02, 1.04), sun=0.0,
        vignette=0.3, blur_sigma=1.0, noise_sigma=6.0, object_scale=0.8, horizon=(0.3, 0.42),
        rates=dict(car=4.0, truck=0.25, bus=0.2, train=0.08, person=4.0, bicycle=1.2,
                   motorcycle=0.2, pole=4.0, tree=3.5, wall=0.35, fence=0.6, terrain=0.7),
        extra_ignore=1.0, camera_artefacts=0.9)


def synthia_style() -> DomainStyle:
    """Synthia-like look: source appearance, cooler palette, no terrain, trucks or trains."""
    style = interpolate_style(source_style(), cityscapes_look(), 0.3)
    rates = dict(style.rates, truck=0.0, train=0.0, terrain=0.0, person=5.0)
    return dataclasses.replace(style, rates=rates, horizon=(0.22, 0.32), extra_ignore=0.0)


def interpolate_style(a: DomainStyle, b: DomainStyle, t: float) -> DomainStyle:
    """Blend two styles, (1 - t) * a + t * b per number; t > 1 extrapolates (clipped sanely)."""
    def mix(x, y):
        return (1.0 - t) * np.asarray(x, np.float64) + t * np.asarray(y, np.float64)

    palette = {k: tuple(np.clip(mix(a.palette[k], b.palette[k]), 0, 255)) for k in a.palette}
    vehicle = tuple(tuple(np.clip(mix(p, q), 0, 255))
                    for p, q in zip(a.vehicle_colours, b.vehicle_colours))
    rates = {k: max(0.0, float(mix(a.rates[k], b.rates[k]))) for k in a.rates}
    scalars = {}
    for field in ('colour_jitter', 'texture_scale', 'texture_contrast', 'saturation', 'contrast',
                  'gamma', 'object_scale', 'sun', 'vignette', 'blur_sigma', 'noise_sigma',
                  'extra_ignore', 'camera_artefacts'):
        scalars[field] = max(0.0, float(mix(getattr(a, field), getattr(b, field))))
    scalars['object_scale'] = max(0.3, scalars['object_scale'])
    scalars['texture_scale'] = max(0.3, scalars['texture_scale'])
    scalars['gamma'] = max(0.3, scalars['gamma'])
    horizon = tuple(float(v) for v in np.clip(mix(a.horizon, b.horizon), 0.1, 0.7))
    return DomainStyle(palette=palette, vehicle_colours=vehicle, rates=rates, horizon=horizon,
                       brightness=float(mix(a.brightness, b.brightness)),
                       cast=tuple(float(v) for v in np.clip(mix(a.cast, b.cast), 0.5, 1.5)),
                       **scalars)


DEFAULT_SHIFT_STRENGTH = 0.6


def target_style(shift_strength: float = DEFAULT_SHIFT_STRENGTH,
                 palette_shift: Optional[float] = None) -> DomainStyle:
    """Target domain: the source look moved `shift_strength` of the way to the Cityscapes look.

    0: no appearance gap (only new scenes and class frequencies). 0.6 (default): a small CNN
    trained from scratch on 200 source images of 64x128 reaches about half the mIoU of the same
    CNN trained on target labels (19 vs 40 on target val). 1: the full Cityscapes look, where
    that source model collapses (5 vs 39); > 1 extrapolates.

    palette_shift (default: shift_strength) moves the class colours and vehicle paints on their
    own. Why: it separates a class-specific shift (the colours) from the shift that all classes
    share (grading, blur, noise, textures, scene statistics), which self-training may adapt to
    differently (docs/results/synthetic_benchmark.md measures one such composition).
    """
    style = interpolate_style(source_style(), cityscapes_look(), shift_strength)
    if palette_shift is None:
        return style
    colours = interpolate_style(source_style(), cityscapes_look(), palette_shift)
    return dataclasses.replace(style, palette=colours.palette,
                               vehicle_colours=colours.vehicle_colours)


class Canvas:
    """Rasterises shapes into an instance map; each instance has a label, colour and texture.

    Later shapes cover earlier ones (painter's order), so callers draw far to near.
    """

    def __init__(self, height: int, width: int, rng: np.random.Generator, style: DomainStyle):
        self.h, self.w, self.rng, self.style = height, width, rng, style
        self.inst = np.zeros((height, width), np.uint16)
        self.labels: List[int] = [UNLABELED]
        self.colours: List[Tuple[float, float, float]] = [(0.0, 0.0, 0.0)]
        self.textures: List[int] = [FLAT]

    def new(self, label: int, colour: Optional[Sequence[float]] = None, texture: int = FLAT,
            jitter: bool = True) -> int:
        """Register an instance; colour defaults to the class palette, with per-instance jitter."""
        base = np.asarray(self.style.palette[label] if colour is None else colour, np.float64)
        if jitter:
            base = base * (1.0 + self.rng.normal(0.0, self.style.colour_jitter, 3))
        self.labels.append(label)
        self.colours.append(tuple(np.clip(base, 0, 255)))
        self.textures.append(texture)
        return len(self.labels) - 1

    def poly(self, inst: int, points: Sequence[Tuple[float, float]]) -> None:
        pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
        cv2.fillPoly(self.inst, [pts], int(inst))

    def rect(self, inst: int, x0: float, y0: float, x1: float, y1: float) -> None:
        self.poly(inst, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    def ellipse(self, inst: int, cx: float, cy: float, ax: float, ay: float) -> None:
        cv2.ellipse(self.inst, (int(round(cx)), int(round(cy))),
                    (max(1, int(round(ax))), max(1, int(round(ay)))), 0, 0, 360, int(inst), -1)

    def ring(self, inst: int, cx: float, cy: float, r: float, thickness: float) -> None:
        cv2.circle(self.inst, (int(round(cx)), int(round(cy))), max(1, int(round(r))), int(inst),
                   max(1, int(round(thickness))))

    def line(self, inst: int, p0: Tuple[float, float], p1: Tuple[float, float],
             thickness: float) -> None:
        cv2.line(self.inst, tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1),
                 int(inst), max(1, int(round(thickness))))


class Street:
    """Perspective geometry of one scene: horizon, vanishing point, road and sidewalk lines."""

    def __init__(self, canvas: Canvas):
        rng, h, w = canvas.rng, canvas.h, canvas.w
        self.h, self.w = h, w
        self.yh = h * rng.uniform(*canvas.style.horizon)
        self.vx = w * rng.uniform(0.38, 0.62)
        self.bx = w * rng.uniform(0.42, 0.58)
        self.road = w * rng.uniform(0.32, 0.48)  # half road width at the bottom row
        self.walk = w * rng.uniform(0.14, 0.3)  # sidewalk width at the bottom row

    def x_at(self, offset: float, y: float) -> float:
        """x of the ground line that is `offset` px from the road centre at the bottom row."""
        return self.vx + (self.bx + offset - self.vx) * self.depth(y)

    def depth(self, y: float) -> float:
        """0 at the horizon, 1 at the bottom row: the perspective scale of the ground at row y."""
        return (y - self.yh) / (self.h - self.yh)

    def strip(self, a: float, b: float, y0: float, y1: float) -> List[Tuple[float, float]]:
        """Ground quadrilateral between offset lines a and b, rows y0..y1."""
        return [(self.x_at(a, y0), y0), (self.x_at(b, y0), y0), (self.x_at(b, y1), y1),
                (self.x_at(a, y1), y1)]

    def sample_y(self, rng: np.random.Generator, lo: float = 0.08, hi: float = 1.0) -> float:
        return self.yh + (self.h - self.yh) * rng.uniform(lo, hi)


def _count(rng: np.random.Generator, rate: float) -> int:
    """Poisson count for rates > 1, Bernoulli for rates <= 1 (so 'wall: 0.4' is a probability)."""
    return int(rng.poisson(rate)) if rate > 1 else int(rng.random() < rate)


def _draw_background(c: Canvas, s: Street, has_terrain: bool) -> None:
    rng, h, w = c.rng, c.h, c.w
    c.rect(c.new(SKY, texture=SKYGRAD), -1, -1, w + 1, s.yh + 2)
    x = -rng.uniform(0, 0.1) * w
    while x < w:  # skyline of facades along the horizon, with gaps of sky or trees
        bw = w * rng.uniform(0.08, 0.25)
        r = rng.random()
        if r < 0.75:
            top = s.yh - h * rng.uniform(0.06, 0.4)
            c.rect(c.new(BUILDING, texture=WINDOWS), x, top, x + bw, s.yh + 1)
        elif r < 0.9:
            _tree(c, x + bw / 2, s.yh + 1, h * rng.uniform(0.12, 0.25))
        x += bw
    if c.style.extra_ignore and rng.random() < 0.08 * c.style.extra_ignore:
        top = s.yh - h * rng.uniform(0.25, 0.35)
        c.rect(c.new(BRIDGE, texture=BRICKS), -1, top, w + 1, top + h * 0.06)
    outer = s.road + s.walk
    grass = has_terrain and rng.random() < 0.4  # else terrain is only a verge strip
    ground = c.new(TERRAIN if grass else SIDEWALK, texture=FINE if grass else TILES)
    c.rect(ground, -1, s.yh, w + 1, h + 1)
    for side in (-1, 1):
        if rng.random() < 0.6:  # perspective facade on this side, up to the sidewalk edge
            far = s.x_at(side * outer, s.yh + 0.05 * (h - s.yh))
            edge = -1 if side < 0 else w + 1
            low = s.yh + (h - s.yh) * rng.uniform(0.3, 0.6)
            c.poly(c.new(BUILDING, texture=WINDOWS),
                   [(edge, s.yh - h * rng.uniform(0.3, 0.6)), (far, s.yh - h * 0.08),
                    (far, s.yh + 1), (s.x_at(side * outer * 1.6, low), low), (edge, low)])
    walk = c.new(SIDEWALK, texture=TILES)
    for side in (-1, 1):
        c.poly(walk, s.strip(side * s.road, side * outer, s.yh, h + 1))
    if has_terrain:
        for side in (-1, 1):  # grass verge between road and sidewalk
            y0 = s.sample_y(rng, 0.1, 0.6)
            c.poly(c.new(TERRAIN, texture=FINE),
                   s.strip(side * (s.road + 0.1 * s.walk), side * (s.road + 0.5 * s.walk), y0,
                           h + 1))
    c.poly(c.new(ROAD, texture=FINE), s.strip(-s.road, s.road, s.yh, h + 1))
    lane = c.new(LANE_MARKING)
    for k in range(8):  # dashed centre line, dashes shrinking towards the horizon
        d0, d1 = (k + 0.2) / 8, (k + 0.6) / 8
        y0, y1 = s.yh + (h - s.yh) * d0 ** 1.5, s.yh + (h - s.yh) * d1 ** 1.5
        c.poly(lane, s.strip(-0.012 * w, 0.012 * w, y0, y1))
    if rng.random() < 0.5 * c.style.extra_ignore:
        side = rng.choice((-1, 1))
        c.poly(c.new(PARKING, texture=FINE),
               s.strip(side * s.road * 0.8, side * s.road, s.sample_y(rng, 0.3, 0.6), h + 1))


def _band(c: Canvas, s: Street, inst: int, offset: float, y0: float, y1: float,
          height: float) -> None:
    """A vertical band standing on a ground line (wall, fence, guard rail, hedge)."""
    xa, xb = s.x_at(offset, y0), s.x_at(offset, y1)
    c.poly(inst, [(xa, y0), (xb, y1), (xb, y1 - height * s.depth(y1)),
                  (xa, y0 - height * s.depth(y0))])


def _tree(c: Canvas, x: float, y: float, size: float) -> None:
    rng = c.rng
    tree = c.new(VEGETATION, texture=BLOTCH)
    trunk = c.new(VEGETATION, colour=(90, 70, 50))  # trunks are vegetation in Cityscapes
    c.rect(trunk, x - 0.04 * size, y - 0.55 * size, x + 0.04 * size, y)
    for _ in range(int(rng.integers(3, 6))):
        c.ellipse(tree, x + rng.normal(0, 0.18) * size, y - size * rng.uniform(0.6, 0.95),
                  size * rng.uniform(0.2, 0.35), size * rng.uniform(0.15, 0.3))


def _person(c: Canvas, label: int, x: float, y: float, hgt: float) -> None:
    """Standing person (or the upper body of a rider when label == RIDER): feet at (x, y)."""
    rng = c.rng
    clothes = c.new(label)
    legs = c.new(label, colour=c.style.palette[label] if rng.random() < 0.5 else (40, 40, 60))
    skin = c.new(label, colour=rng.uniform(110, 230) * np.array([1.0, 0.78, 0.65]))
    if label == PERSON:
        step = rng.uniform(0.0, 0.12) * hgt
        c.poly(legs, [(x - 0.09 * hgt, y - 0.5 * hgt), (x + 0.09 * hgt, y - 0.5 * hgt),
                      (x + step + 0.05 * hgt, y), (x + step - 0.03 * hgt, y)])
        c.poly(legs, [(x - 0.09 * hgt, y - 0.5 * hgt), (x + 0.02 * hgt, y - 0.5 * hgt),
                      (x - step, y), (x - step - 0.07 * hgt, y)])
    c.poly(clothes, [(x - 0.12 * hgt, y - 0.82 * hgt), (x + 0.12 * hgt, y - 0.82 * hgt),
                     (x + 0.1 * hgt, y - 0.48 * hgt), (x - 0.1 * hgt, y - 0.48 * hgt)])
    c.line(clothes, (x + 0.11 * hgt, y - 0.8 * hgt), (x + 0.15 * hgt, y - 0.55 * hgt),
           0.06 * hgt)
    c.ellipse(skin, x, y - 0.9 * hgt, 0.07 * hgt, 0.085 * hgt)


def _two_wheeler(c: Canvas, label: int, x: float, y: float, hgt: float, ridden: bool) -> None:
    """Bicycle (thin rings and frame) or motorcycle (filled wheels and body), side view."""
    rng = c.rng
    r = 0.45 * hgt if label == BICYCLE else 0.4 * hgt
    span = 1.1 * hgt
    frame = c.new(label)
    wheel = c.new(label, colour=(25, 25, 25))
    for wx in (x - span / 2, x + span / 2):
        if label == BICYCLE:
            c.ring(wheel, wx, y - r, r, max(1.0, 0.12 * r))
        else:
            c.ellipse(wheel, wx, y - r, r, r)
    if label == BICYCLE:
        top = y - 1.9 * r
        pts = [(x - span / 2, y - r), (x - 0.1 * span, top), (x + 0.3 * span, top),
               (x + span / 2, y - r), (x, y - r), (x - 0.1 * span, top)]
        for p0, p1 in zip(pts[:-1], pts[1:]):
            c.line(frame, p0, p1, max(1.0, 0.08 * r))
    else:
        c.poly(frame, [(x - 0.5 * span, y - 1.3 * r), (x + 0.45 * span, y - 1.9 * r),
                       (x + 0.5 * span, y - 1.2 * r), (x + 0.2 * span, y - 0.6 * r),
                       (x - 0.3 * span, y - 0.6 * r)])
    if ridden:
        seat = y - (1.9 if label == BICYCLE else 1.6) * r
        _person(c, RIDER, x - 0.05 * span, seat + 0.45 * hgt * rng.uniform(0.95, 1.05),
                1.35 * hgt)


def _vehicle(c: Canvas, label: int, x: float, y: float, hgt: float) -> None:
    """Car / truck / bus / train / caravan / trailer seen from behind or the side."""
    rng = c.rng
    paint = None
    if label == CAR:
        paint = c.style.vehicle_colours[int(rng.integers(len(c.style.vehicle_colours)))]
    body = c.new(label, colour=paint)
    glass = c.new(label, colour=(40, 50, 60))
    tyre = c.new(label, colour=(20, 20, 20))
    if label == CAR:
        wid = hgt * (1.5 if rng.random() < 0.6 else 2.4)
        c.rect(body, x - wid / 2, y - 0.6 * hgt, x + wid / 2, y - 0.15 * hgt)
        c.poly(body, [(x - 0.38 * wid, y - 0.6 * hgt), (x - 0.28 * wid, y - hgt),
                      (x + 0.28 * wid, y - hgt), (x + 0.38 * wid, y - 0.6 * hgt)])
        c.poly(glass, [(x - 0.32 * wid, y - 0.64 * hgt), (x - 0.25 * wid, y - 0.93 * hgt),
                       (x + 0.25 * wid, y - 0.93 * hgt), (x + 0.32 * wid, y - 0.64 * hgt)])
        for wx in (x - 0.35 * wid, x + 0.35 * wid):
            c.rect(tyre, wx - 0.09 * wid, y - 0.22 * hgt, wx + 0.09 * wid, y)
        lights = c.new(label, colour=(220, 30, 30), jitter=False)
        for wx in (x - 0.45 * wid, x + 0.38 * wid):
            c.rect(lights, wx, y - 0.52 * hgt, wx + 0.07 * wid, y - 0.44 * hgt)
        return
    length = {TRUCK: 1.3, BUS: 2.6, TRAIN: rng.uniform(3.5, 6.0), CARAVAN: 1.6,
              TRAILER: 1.4}[label] * hgt
    c.rect(body, x - length / 2, y - hgt, x + length / 2, y - 0.12 * hgt)
    if label == TRUCK:  # cab in front of a tall box, with a dark gap line
        cab = c.new(label)
        c.rect(cab, x + length / 2, y - 0.7 * hgt, x + length * 0.78, y - 0.12 * hgt)
        c.rect(glass, x + length * 0.6, y - 0.66 * hgt, x + length * 0.76, y - 0.45 * hgt)
    elif label in (BUS, TRAIN, CARAVAN):  # a row of windows
        n = max(2, int(length / (0.45 * hgt)))
        for k in range(n):
            x0 = x - length / 2 + (k + 0.15) * length / n
            c.rect(glass, x0, y - 0.85 * hgt, x0 + 0.7 * length / n, y - 0.5 * hgt)
        if label == TRAIN:
            c.line(c.new(label, colour=(50, 50, 50)), (x, y - hgt), (x + 0.2 * hgt, y - 1.3 * hgt),
                   max(1.0, 0.03 * hgt))
    for wx in (x - length * 0.35, x + length * 0.35):
        c.ellipse(tyre, wx, y - 0.12 * hgt, 0.12 * hgt, 0.12 * hgt)


def _pole(c: Canvas, x: float, y: float, hgt: float, top: Optional[str]) -> None:
    """Pole with an optional traffic sign ('sign') or traffic light ('light') on top."""
    rng = c.rng
    width = max(1.0, 0.025 * hgt)
    c.rect(c.new(POLE), x - width / 2, y - hgt, x + width / 2, y)
    if top == 'sign':
        face = c.new(TRAFFIC_SIGN)
        size = 0.12 * hgt
        cy = y - hgt - 0.3 * size
        shape = rng.integers(3)
        if shape == 0:
            c.ellipse(face, x, cy, size / 2, size / 2)
            c.ring(c.new(TRAFFIC_SIGN, colour=(200, 30, 30)), x, cy, size / 2,
                   max(1.0, 0.15 * size))
        elif shape == 1:
            c.poly(face, [(x - size / 2, cy - size / 3), (x + size / 2, cy - size / 3),
                          (x, cy + size / 2)])
        else:
            c.rect(face, x - size * 0.7, cy - size / 2, x + size * 0.7, cy + size / 2)
    elif top == 'light':
        box = c.new(TRAFFIC_LIGHT)
        bw, bh = 0.07 * hgt, 0.2 * hgt
        y0 = y - hgt - 0.1 * bh
        c.rect(box, x - bw / 2, y0, x + bw / 2, y0 + bh)
        on = int(rng.integers(3))
        for k, colour in enumerate(((230, 40, 30), (240, 180, 20), (40, 220, 90))):
            lamp = c.new(TRAFFIC_LIGHT, colour=colour if k == on else (60, 60, 50))
            c.ellipse(lamp, x, y0 + bh * (k + 0.5) / 3, bw * 0.3, bh * 0.12)


def _extras(c: Canvas, s: Street) -> List[Tuple[float, str]]:
    """Cityscapes' ignored stuff (mapped to 255): static/dynamic objects, guard rails, etc."""
    rng, h, w, p = c.rng, c.h, c.w, c.style.extra_ignore
    objects = []
    for kind in ('static', 'dynamic', 'ground', 'polegroup', 'caravan', 'trailer', 'guard_rail',
                 'rail_track'):
        if rng.random() < 0.35 * p:
            objects.append((s.sample_y(rng, 0.2, 0.9), kind))
    if rng.random() < 0.1:  # an unlabelled blob, as annotators leave some
        c.ellipse(c.new(UNLABELED), rng.uniform(0, w), rng.uniform(s.yh, h), 0.05 * w, 0.03 * h)
    return objects


def _draw_extra(c: Canvas, s: Street, y: float, kind: str) -> None:
    rng, d, sc = c.rng, s.depth(y), c.style.object_scale
    side = rng.choice((-1, 1))
    on_walk = s.x_at(side * (s.road + rng.uniform(0.2, 0.8) * s.walk), y)
    if kind in ('static', 'dynamic'):
        size = c.h * 0.12 * d * sc
        c.rect(c.new(STATIC if kind == 'static' else DYNAMIC, texture=FINE),
               on_walk - size / 3, y - size, on_walk + size / 3, y)
    elif kind == 'ground':
        c.poly(c.new(GROUND, texture=FINE),
               s.strip(side * (s.road + 0.3 * s.walk), side * (s.road + 0.7 * s.walk), y,
                       y + 0.1 * (c.h - s.yh)))
    elif kind == 'polegroup':
        for k in range(3):
            x = on_walk + k * 0.02 * c.w * d
            width = max(1.0, 0.01 * c.h * d)
            c.rect(c.new(POLEGROUP), x, y - 0.5 * c.h * d, x + width, y)
    elif kind in ('caravan', 'trailer'):
        _vehicle(c, CARAVAN if kind == 'caravan' else TRAILER, s.x_at(side * 0.6 * s.road, y), y,
                 0.45 * c.h * d * sc)
    elif kind == 'guard_rail':
        _band(c, s, c.new(GUARD_RAIL), side * s.road * 1.02, y, min(c.h, y + 0.3 * c.h), 0.06 * c.h)
    else:
        for off in (-0.1, 0.1):
            c.poly(c.new(RAIL_TRACK), s.strip((off - 0.01) * s.road, (off + 0.01) * s.road, y,
                                              c.h + 1))


def _spawn(c: Canvas, s: Street, kind: str, y: float, forced: bool = False) -> None:
    """Draw one object of `kind` standing on row y at a plausible place for it.

    forced: the object that must show its classes (a two-wheeler then always has its rider).
    """
    rng, h, d = c.rng, c.h, s.depth(y)
    sc = c.style.object_scale
    side = rng.choice((-1, 1))
    lane = s.x_at(side * s.road * rng.uniform(0.2, 0.75), y)
    walk = s.x_at(side * (s.road + rng.uniform(0.15, 0.85) * s.walk), y)
    curb = s.x_at(side * (s.road + 0.08 * s.walk), y)
    if kind in ('car', 'truck', 'bus', 'train'):
        label = {'car': CAR, 'truck': TRUCK, 'bus': BUS, 'train': TRAIN}[kind]
        size = {'car': 0.32, 'truck': 0.5, 'bus': 0.55, 'train': 0.6}[kind]
        x = s.x_at(0.0, y) + rng.normal(0, 0.1) * s.road * d if kind == 'train' else lane
        _vehicle(c, label, x, y, size * h * d * sc)
    elif kind == 'person':
        _person(c, PERSON, walk if rng.random() < 0.85 else lane, y, 0.42 * h * d * sc)
    elif kind in ('bicycle', 'motorcycle'):
        label = BICYCLE if kind == 'bicycle' else MOTORCYCLE
        ridden = forced or rng.random() < 0.75
        _two_wheeler(c, label, lane if ridden else walk, y, 0.2 * h * d * sc, ridden)
    elif kind in ('pole', 'pole_light'):
        top = 'light' if kind == 'pole_light' else rng.choice(['sign', 'light', None],
                                                             p=[0.5, 0.3, 0.2])
        _pole(c, curb, y, 0.6 * h * d * sc, top)
    elif kind == 'tree':
        _tree(c, s.x_at(side * (s.road + s.walk * rng.uniform(0.7, 1.2)), y), y,
              0.7 * h * d * rng.uniform(0.8, 1.2))
    elif kind in ('wall', 'fence'):
        y1 = min(h + 1, y + (h - s.yh) * rng.uniform(0.3, 0.7))
        inst = c.new(WALL, texture=BRICKS) if kind == 'wall' else c.new(FENCE, texture=LATTICE)
        _band(c, s, inst, side * (s.road + s.walk), y, y1, h * rng.uniform(0.15, 0.3))


def draw_scene(c: Canvas, forced: Optional[str] = None) -> None:
    """Compose a street scene: background and ground, then objects sorted far to near."""
    rng, st = c.rng, c.style
    s = Street(c)
    has_terrain = forced == 'terrain' or rng.random() < st.rates['terrain']
    _draw_background(c, s, has_terrain)
    objects = []
    for kind in OBJECT_KINDS:
        if kind != 'terrain':
            objects += [(s.sample_y(rng), kind) for _ in range(_count(rng, st.rates[kind]))]
    objects += _extras(c, s)
    for y, kind in sorted(objects, key=lambda o: o[0]):
        if kind in OBJECT_KINDS:
            _spawn(c, s, kind, y)
        else:
            _draw_extra(c, s, y, kind)
    if forced is not None and forced != 'terrain':
        # drawn last, at mid depth, so its classes are never fully covered
        lo, hi = (0.15, 0.35) if forced in ('wall', 'fence') else (0.5, 0.8)
        _spawn(c, s, forced, s.sample_y(rng, lo, hi), forced=True)
    if rng.random() < st.camera_artefacts:  # camera artefacts of Cityscapes: ego hood, borders
        c.ellipse(c.new(EGO_VEHICLE), c.w / 2, c.h * 1.06, c.w * 0.75, c.h * 0.12)
        b = max(1, int(round(c.h / 128)))
        border = c.new(RECT_BORDER)
        c.rect(border, -1, -1, b - 1, c.h + 1)
        c.rect(border, c.w - b, -1, c.w + 1, c.h + 1)
        c.poly(c.new(OUT_OF_ROI), [(-1, c.h * 0.9), (c.w * 0.06, c.h + 1), (-1, c.h + 1)])


def _noise_field(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1], (H, W): uniform noise on a grid of `cell` px, bicubic upsampled."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    grid = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), -1, 1)


def texture_fields(rng: np.random.Generator, h: int, w: int, style: DomainStyle) -> np.ndarray:
    """Multiplicative texture fields (NUM_TEXTURES, H, W), float32 around 1."""
    ts, amp, unit = style.texture_scale, style.texture_contrast, h / 128.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fine = _noise_field(rng, h, w, max(1.0, 1.5 * unit * ts))
    blob = _noise_field(rng, h, w, 6 * unit * ts) + 0.5 * _noise_field(rng, h, w, 2 * unit * ts)
    period = max(3.0, 7 * unit * ts)
    windows = ((xx % period) < 0.55 * period) & ((yy % (1.3 * period)) < 0.6 * period)
    tile = max(3.0, 5 * unit * ts)
    grout = ((xx % tile) < 1) | ((yy % (0.6 * tile)) < 1)
    mesh = max(3.0, 4 * unit * ts)
    wires = ((xx + yy) % mesh < 1.2) | ((xx - yy) % mesh < 1.2)
    course = max(2.0, 3 * unit * ts)
    bricks = (yy % course) < 1
    clouds = _noise_field(rng, h, w, 20 * unit * ts)
    fields = np.empty((NUM_TEXTURES, h, w), np.float32)
    fields[FLAT] = 1.0 + 0.03 * amp * fine
    fields[FINE] = 1.0 + 0.12 * amp * fine
    fields[BLOTCH] = 1.0 + 0.35 * amp * blob
    fields[WINDOWS] = np.where(windows, 1.0 - 0.5 * amp, 1.0) + 0.04 * fine
    fields[TILES] = np.where(grout, 1.0 - 0.3 * amp, 1.0) + 0.05 * amp * fine
    fields[LATTICE] = np.where(wires, 1.0 - 0.55 * amp, 1.0 + 0.1 * amp)
    fields[BRICKS] = np.where(bricks, 1.0 - 0.25 * amp, 1.0) + 0.08 * amp * fine
    fields[SKYGRAD] = 1.12 - 0.2 * yy / h + 0.12 * amp * np.maximum(clouds, 0)
    return fields


def render(c: Canvas) -> np.ndarray:
    """Colour image (H, W, 3) uint8 RGB of the canvas, graded with the domain's look."""
    st, rng, h, w = c.style, c.rng, c.h, c.w
    fields = texture_fields(rng, h, w, st)
    colours = np.asarray(c.colours, np.float32)
    kinds = np.asarray(c.textures, np.intp)[c.inst]
    shade = np.take_along_axis(fields, kinds[None], axis=0)[0]
    img = colours[c.inst] * shade[..., None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)
    yy = np.linspace(-1, 1, h, dtype=np.float32)
    sun_dir = rng.choice((-1.0, 1.0))
    img *= (1.0 + st.sun * 0.5 * sun_dir * xx)[None, :, None]
    grey = img.mean(axis=2, keepdims=True)
    img = grey + st.saturation * (img - grey)
    img = (img - 128.0) * st.contrast + 128.0 + st.brightness
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** st.gamma
    img *= np.asarray(st.cast, np.float32)
    if st.vignette:
        r2 = xx[None, :] ** 2 + yy[:, None] ** 2
        img *= (1.0 - st.vignette * 0.5 * r2)[..., None]
    if st.blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), st.blur_sigma * h / 256.0)
    if st.noise_sigma > 0:
        img += rng.normal(0.0, st.noise_sigma, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def generate_sample(seed: int, domain: int, index: int, size: Tuple[int, int],
                    style: DomainStyle, forced: Optional[str] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """One scene: (RGB image (H, W, 3) uint8, internal label ids (H, W) uint8).

    The generator is seeded by (seed, domain, index) only, so samples are reproducible alone.
    """
    rng = np.random.default_rng([int(seed), int(domain), int(index)])
    canvas = Canvas(int(size[0]), int(size[1]), rng, style)
    draw_scene(canvas, forced)
    labels = np.asarray(canvas.labels, np.uint8)[canvas.inst]
    return render(canvas), labels


def cityscapes_label_ids(internal: np.ndarray) -> np.ndarray:
    """Internal ids (H, W) -> Cityscapes label ids (lane markings are road)."""
    lut = np.arange(NUM_INTERNAL_IDS, dtype=np.uint8)
    lut[LANE_MARKING] = ROAD
    return lut[internal]


def synthia_label_ids(internal: np.ndarray) -> np.ndarray:
    """Internal ids (H, W) -> Synthia class ids (void 0 for classes Synthia lacks)."""
    lut = np.zeros(NUM_INTERNAL_IDS, np.uint16)
    for k, v in _SYNTHIA_ID.items():
        lut[k] = v
    return lut[internal]


def _label_palette() -> List[int]:
    """Flat 256x3 palette: Cityscapes label colours by id, as in GTA's paletted labels."""
    from cityscapesscripts.helpers.labels import labels
    palette = np.zeros((256, 3), np.uint8)
    for lab in labels:
        if lab.id >= 0:
            palette[lab.id] = lab.color
    return palette.ravel().tolist()


def _write_rgb(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.ascontiguousarray(rgb[..., ::-1]))


# Domain codes of the per-image seeds; splits of one domain use separate codes.
SOURCE, TARGET_TRAIN, TARGET_VAL, SYNTHIA = 1, 2, 3, 4
TRAIN_CITIES = ('aachen', 'bochum', 'bremen')
VAL_CITIES = ('frankfurt', 'lindau', 'munster')


def write_gta(root: str, num: int, size: Tuple[int, int], seed: int,
              style: Optional[DomainStyle] = None) -> List[str]:
    """`root/images/00001.png` (RGB) and `root/labels/00001.png` (paletted label ids)."""
    style = style or source_style()
    palette = _label_palette()
    names = []
    for i in range(num):
        img, internal = generate_sample(seed, SOURCE, i, size, style,
                                        FORCED_CYCLE[i % len(FORCED_CYCLE)])
        name = f'{i + 1:05d}.png'
        _write_rgb(osp.join(root, 'images', name), img)
        label = Image.fromarray(cityscapes_label_ids(internal))
        label.putpalette(palette)  # turns the 'L' image into a paletted 'P' one
        os.makedirs(osp.join(root, 'labels'), exist_ok=True)
        label.save(osp.join(root, 'labels', name))
        names.append(name)
    return names


def write_cityscapes(root: str, num_train: int, num_val: int, size: Tuple[int, int], seed: int,
                     style: Optional[DomainStyle] = None) -> List[str]:
    """`leftImg8bit/<split>/<city>/<city>_000000_<n>_leftImg8bit.png` + `_gtFine_labelIds.png`."""
    style = style or target_style()
    stems = []
    for split, num, code, cities in (('train', num_train, TARGET_TRAIN, TRAIN_CITIES),
                                     ('val', num_val, TARGET_VAL, VAL_CITIES)):
        for i in range(num):
            img, internal = generate_sample(seed, code, i, size, style,
                                            FORCED_CYCLE[i % len(FORCED_CYCLE)])
            city = cities[i % len(cities)]
            stem = f'{city}/{city}_000000_{i:06d}'
            _write_rgb(osp.join(root, 'leftImg8bit', split, f'{stem}_leftImg8bit.png'), img)
            gt = osp.join(root, 'gtFine', split, f'{stem}_gtFine_labelIds.png')
            os.makedirs(osp.dirname(gt), exist_ok=True)
            Image.fromarray(cityscapes_label_ids(internal)).save(gt)
            stems.append(f'{split}/{stem}')
    return stems


def write_synthia(root: str, num: int, size: Tuple[int, int], seed: int,
                  style: Optional[DomainStyle] = None) -> List[str]:
    """`RGB/0000000.png` and `GT/LABELS/0000000.png`: 16-bit, 3 channels, class id in the channel
    cv2 reads last (the PNG's first, red channel), instance ids in the middle one, as Synthia."""
    style = style or synthia_style()
    forced = [f for f in FORCED_CYCLE if f not in ('train', 'truck', 'terrain')]
    names = []
    for i in range(num):
        img, internal = generate_sample(seed, SYNTHIA, i, size, style, forced[i % len(forced)])
        name = f'{i:07d}.png'
        _write_rgb(osp.join(root, 'RGB', name), img)
        gt = np.zeros(internal.shape + (3,), np.uint16)
        gt[..., 2] = synthia_label_ids(internal)
        gt[..., 1] = internal.astype(np.uint16) * 7  # stand-in instance channel, not used
        os.makedirs(osp.join(root, 'GT', 'LABELS'), exist_ok=True)
        cv2.imwrite(osp.join(root, 'GT', 'LABELS', name), gt)
        names.append(name)
    return names


def generate(out_root: str, num_source: int = 8, num_target_train: int = 8,
             num_target_val: int = 4, size: Tuple[int, int] = (128, 256),
             source_size: Optional[Tuple[int, int]] = None, seed: int = 0,
             shift_strength: float = DEFAULT_SHIFT_STRENGTH, synthia: bool = False,
             num_synthia: Optional[int] = None,
             palette_shift: Optional[float] = None) -> Dict[str, str]:
    """Write gta/, cityscapes/ (and synthia/) under out_root; returns the three roots.

    size is the target (H, W); source_size defaults to size; see target_style for the shift.
    """
    roots = dict(gta=osp.join(out_root, 'gta'), cityscapes=osp.join(out_root, 'cityscapes'))
    src_size = tuple(source_size or size)
    write_gta(roots['gta'], num_source, src_size, seed)
    write_cityscapes(roots['cityscapes'], num_target_train, num_target_val, tuple(size), seed,
                     target_style(shift_strength, palette_shift))
    if synthia:
        roots['synthia'] = osp.join(out_root, 'synthia')
        write_synthia(roots['synthia'], num_source if num_synthia is None else num_synthia,
                      src_size, seed)
    return roots


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate synthetic GTA/Cityscapes/Synthia-'
                                     'layout street scenes with a controllable domain shift.')
    parser.add_argument('out_root', help='folder that receives gta/, cityscapes/ (and synthia/)')
    parser.add_argument('--num-source', type=int, default=8)
    parser.add_argument('--num-target-train', type=int, default=8)
    parser.add_argument('--num-target-val', type=int, default=4)
    parser.add_argument('--num-synthia', type=int, default=None,
                        help='Synthia images (default: --num-source)')
    parser.add_argument('--size', type=int, nargs=2, default=(128, 256), metavar=('H', 'W'),
                        help='target image size')
    parser.add_argument('--source-size', type=int, nargs=2, default=None, metavar=('H', 'W'),
                        help='source (GTA/Synthia) image size (default: --size)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--shift-strength', type=float, default=DEFAULT_SHIFT_STRENGTH,
                        help='appearance gap: 0 none, 0.6 default, 1 full Cityscapes look')
    parser.add_argument('--palette-shift', type=float, default=None,
                        help='gap of the class colours alone (default: --shift-strength)')
    parser.add_argument('--synthia', action='store_true', help='also write synthia/')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    for name in ('num_source', 'num_target_train', 'num_target_val'):
        if getattr(args, name) < 0:
            sys.exit(f'--{name.replace("_", "-")} must be >= 0')
    if min(args.size) < 16 or (args.source_size and min(args.source_size) < 16):
        sys.exit('--size/--source-size must be at least 16 px in each dimension')
    roots = generate(args.out_root, args.num_source, args.num_target_train, args.num_target_val,
                     tuple(args.size), args.source_size, args.seed, args.shift_strength,
                     args.synthia, args.num_synthia, args.palette_shift)
    print('\n'.join(f'{k}: {v}' for k, v in roots.items()))


if __name__ == '__main__':
    main()
