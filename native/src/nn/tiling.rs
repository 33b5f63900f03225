//! Halo tiling: the network sees `tile × tile` windows, and only each window's
//! centre (the tile minus a `halo` on every side) is kept, so every kept pixel
//! had at least `halo` pixels of real context. Windows that run off the image
//! are filled by mirror reflection, which keeps the lattice continuous at the
//! border instead of inventing a vacuum edge the network would react to.

use crate::error::{Error, ErrorKind, Result};
use crate::math::resample::reflect;
use crate::nn::network::Network;
use rayon::prelude::*;

/// Fixed tile sizes the engine chooses from; each gets its own cached tract plan.
pub const TILE_SIZES: [usize; 4] = [128, 256, 512, 576];

/// Tiles sent to a GPU at once: enough to fill it, few enough that a 576² batch's
/// activations (≈ 0.3 GB) fit any card.
pub const GPU_BATCH: usize = 8;

/// Most tiles run at once over rayon, whatever the core count, to bound memory.
pub const MAX_PARALLEL_TILES: usize = 8;

/// Largest tile the engine will fit to an image. tract's cost per tile pixel grows
/// with the tile (4.1 s/Mpx at 128², 5.5 at 512², 7.1 at 1024², BENCHMARKS.md), so
/// beyond this size halo savings no longer pay for the slower convolutions.
pub const MAX_FITTED_TILE: usize = 576;

/// Square tile sizes that cover a `width × height` image with k × k tiles exactly
/// (up to rounding to `multiple`), for every k whose tile is ≤ `max_tile`.
/// A 512² model grid with halo 32 gets one 576² tile instead of nine 256² ones.
pub fn fitted_sizes(
    width: usize,
    height: usize,
    halo: usize,
    multiple: usize,
    max_tile: usize,
) -> Vec<usize> {
    let longest = width.max(height).max(1);
    let multiple = multiple.max(1);
    let mut sizes = Vec::new();
    for k in 1..=longest {
        let core = longest.div_ceil(k).next_multiple_of(multiple);
        let tile = core + 2 * halo;
        if tile <= max_tile {
            sizes.push(tile);
        }
        if core <= multiple {
            break;
        }
    }
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Where the tiles go on an image.
#[derive(Debug, Clone, PartialEq)]
pub struct TilePlan {
    pub tile: usize,
    pub halo: usize,
    /// Top-left corners of the kept centres, in image pixels.
    pub cores: Vec<(usize, usize)>,
    pub width: usize,
    pub height: usize,
}

impl TilePlan {
    pub fn core(&self) -> usize {
        self.tile - 2 * self.halo
    }

    /// Picks the tile size that computes the fewest pixels in all (ties: fewer tiles,
    /// which means less per-call overhead and fewer halos).
    pub fn choose(width: usize, height: usize, halo: usize, sizes: &[usize]) -> Result<TilePlan> {
        let mut best: Option<((usize, usize), TilePlan)> = None;
        for &tile in sizes {
            if tile <= 2 * halo {
                continue;
            }
            let plan = TilePlan::with_tile(width, height, tile, halo);
            let cost = (plan.cores.len() * tile * tile, plan.cores.len());
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, plan));
            }
        }
        best.map(|(_, p)| p).ok_or_else(|| {
            Error::invalid(format!("no tile size is larger than twice the halo {halo}"))
        })
    }

    pub fn with_tile(width: usize, height: usize, tile: usize, halo: usize) -> TilePlan {
        let core = tile - 2 * halo;
        let starts = |n: usize| (0..n.div_ceil(core)).map(|i| i * core).collect::<Vec<_>>();
        let xs = starts(width);
        let ys = starts(height);
        let cores = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
            .collect();
        TilePlan {
            tile,
            halo,
            cores,
            width,
            height,
        }
    }

    /// The `tile × tile` window whose centre starts at `core`, mirror-padded.
    pub fn window(&self, image: &[f32], core: (usize, usize)) -> Vec<f32> {
        let (x0, y0) = (
            core.0 as isize - self.halo as isize,
            core.1 as isize - self.halo as isize,
        );
        let t = self.tile;
        let mut out = vec![0f32; t * t];
        let cols: Vec<usize> = (0..t)
            .map(|c| reflect(x0 + c as isize, self.width))
            .collect();
        for r in 0..t {
            let row = reflect(y0 + r as isize, self.height) * self.width;
            let dst = &mut out[r * t..(r + 1) * t];
            for (d, &c) in dst.iter_mut().zip(&cols) {
                *d = image[row + c];
            }
        }
        out
    }
}

/// Full-image network output: per head, `channels × height × width`, channel-major.
#[derive(Debug, Clone)]
pub struct Maps {
    pub width: usize,
    pub height: usize,
    pub heads: Vec<HeadMap>,
}

#[derive(Debug, Clone)]
pub struct HeadMap {
    pub name: String,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Maps {
    pub fn head(&self, name: &str) -> Option<&HeadMap> {
        self.heads.iter().find(|h| h.name == name)
    }
}

impl HeadMap {
    pub fn channel(&self, c: usize, plane: usize) -> &[f32] {
        &self.data[c * plane..(c + 1) * plane]
    }
}

/// Runs the network over the whole (normalized, canonical-grid) image.
///
/// `progress(done, total)` is called after each tile; returning `false` cancels.
/// Tiles run in parallel batches of a few per thread so at most that many tile
/// outputs are alive at once, besides the full maps.
pub fn run_tiled(
    net: &Network,
    image: &[f32],
    plan: &TilePlan,
    parallel: bool,
    views: usize,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<Maps> {
    let (w, h) = (plan.width, plan.height);
    assert_eq!(image.len(), w * h);
    let plane = w * h;
    let mut heads: Vec<HeadMap> = net
        .card
        .outputs
        .iter()
        .map(|name| {
            let channels = net.card.channels(name);
            HeadMap {
                name: name.clone(),
                channels,
                data: vec![0f32; channels * plane],
            }
        })
        .collect();
    let total = plan.cores.len();
    let gpu = net.device() == crate::nn::device::Device::Cuda;
    let batch = if gpu {
        // Every view of a tile goes through the GPU in the same batch.
        (GPU_BATCH / views.max(1)).max(1)
    } else if parallel {
        // One tile per thread in flight: each holds ~0.2 GB of activations at 576².
        rayon::current_num_threads().clamp(1, MAX_PARALLEL_TILES)
    } else {
        1
    };
    let t = plan.tile;
    let core = plan.core();
    let mut done = 0;
    for chunk in plan.cores.chunks(batch) {
        let run = |&c: &(usize, usize)| {
            let window = plan.window(image, c);
            let outs = (0..views)
                .map(|k| net.run(t, dihedral(&window, t, k)))
                .collect::<Result<Vec<_>>>()?;
            Ok((c, average_views(outs, t)?))
        };
        let outs: Vec<_> = if gpu {
            let windows = chunk
                .par_iter()
                .flat_map_iter(|&c| {
                    let window = plan.window(image, c);
                    (0..views).map(move |k| dihedral(&window, t, k))
                })
                .collect();
            let ran = net.run_batch(t, windows)?;
            if ran.len() != chunk.len() * views {
                return Err(Error::new(
                    ErrorKind::Model,
                    format!(
                        "the network returned {} tile outputs for {} inputs",
                        ran.len(),
                        chunk.len() * views
                    ),
                ));
            }
            let mut ran = ran.into_iter();
            chunk
                .iter()
                .map(|&c| Ok((c, average_views(ran.by_ref().take(views).collect(), t)?)))
                .collect::<Result<_>>()?
        } else if parallel {
            chunk.par_iter().map(run).collect::<Result<_>>()?
        } else {
            chunk.iter().map(run).collect::<Result<_>>()?
        };
        for ((cx, cy), out) in outs {
            net.check_output(t, &out)?;
            let cw = core.min(w - cx);
            let ch = core.min(h - cy);
            for (head, tile_out) in heads.iter_mut().zip(&out) {
                for c in 0..head.channels {
                    let src = &tile_out[c * t * t..(c + 1) * t * t];
                    let dst = &mut head.data[c * plane..(c + 1) * plane];
                    for r in 0..ch {
                        let s = (plan.halo + r) * t + plan.halo;
                        let d = (cy + r) * w + cx;
                        dst[d..d + cw].copy_from_slice(&src[s..s + cw]);
                    }
                }
            }
            done += 1;
        }
        if !progress(done, total) {
            return Err(Error::new(ErrorKind::Cancelled, "analysis cancelled"));
        }
    }
    Ok(Maps {
        width: w,
        height: h,
        heads,
    })
}

/// Most views of a tile: the eight symmetries of the square.
pub const MAX_VIEWS: usize = 8;

/// The four rotations first, then the four mirrors, so that fewer views still
/// spread over the square's symmetries.
const VIEW_ORDER: [usize; MAX_VIEWS] = [0, 5, 3, 6, 1, 2, 4, 7];

/// Source index of each pixel of view `k` of a `t × t` tile: bit 0 mirrors x, bit 1
/// mirrors y, bit 2 transposes. The eight views are the square's symmetries, under
/// which the training data (rot90 and flips) made the network nearly equivariant.
fn view_source(t: usize, view: usize) -> impl Iterator<Item = usize> {
    let k = VIEW_ORDER[view % MAX_VIEWS];
    (0..t * t).map(move |i| {
        let (mut x, mut y) = (i % t, i / t);
        if k & 4 != 0 {
            std::mem::swap(&mut x, &mut y);
        }
        if k & 1 != 0 {
            x = t - 1 - x;
        }
        if k & 2 != 0 {
            y = t - 1 - y;
        }
        y * t + x
    })
}

/// View `k` of a `t × t` tile (see [`view_source`]).
pub fn dihedral(tile: &[f32], t: usize, k: usize) -> Vec<f32> {
    if k == 0 {
        return tile.to_vec();
    }
    view_source(t, k).map(|s| tile[s]).collect()
}

/// Maps each view's outputs back onto the tile and averages them per pixel.
/// Views must have the same heads, each a whole number of `t × t` planes; anything
/// else is a `Model` error, not a panic.
fn average_views(
    views: Vec<crate::nn::graph::TileOutput>,
    t: usize,
) -> Result<crate::nn::graph::TileOutput> {
    let model_err = |msg: String| Error::new(ErrorKind::Model, msg);
    let n = views.len() as f32;
    let mut views = views.into_iter().enumerate();
    let (_, mut sum) = views
        .next()
        .ok_or_else(|| model_err("the network returned no output for a tile".into()))?;
    if let Some(bad) = sum.iter().find(|h| !h.len().is_multiple_of(t * t)) {
        return Err(model_err(format!(
            "a head returned {} values, not whole {t}² planes",
            bad.len()
        )));
    }
    for (k, out) in views {
        let lengths = |o: &crate::nn::graph::TileOutput| o.iter().map(Vec::len).collect::<Vec<_>>();
        if lengths(&out) != lengths(&sum) {
            return Err(model_err(format!(
                "view {k} returned heads of {:?} values, view 0 of {:?}",
                lengths(&out),
                lengths(&sum)
            )));
        }
        let source: Vec<usize> = view_source(t, k).collect();
        for (acc, head) in sum.iter_mut().zip(&out) {
            for (acc_c, head_c) in acc.chunks_mut(t * t).zip(head.chunks(t * t)) {
                for (i, &s) in source.iter().enumerate() {
                    acc_c[s] += head_c[i];
                }
            }
        }
    }
    if n > 1.0 {
        for head in &mut sum {
            head.iter_mut().for_each(|v| *v /= n);
        }
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_cover_every_pixel_once() {
        for &(w, h) in &[(30, 20), (200, 131), (640, 480)] {
            let plan = TilePlan::choose(w, h, 32, &TILE_SIZES).unwrap();
            let mut seen = vec![0u8; w * h];
            let core = plan.core();
            for &(x, y) in &plan.cores {
                for r in y..(y + core).min(h) {
                    for c in x..(x + core).min(w) {
                        seen[r * w + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{w}x{h}");
        }
    }

    #[test]
    fn fitted_tiles_cover_the_image_with_few_pixels() {
        // 1024² at 0.1 Å/px is a 512² model grid: one 576² tile, not nine 256² ones.
        let mut sizes = TILE_SIZES.to_vec();
        sizes.extend(fitted_sizes(512, 512, 32, 8, MAX_FITTED_TILE));
        let plan = TilePlan::choose(512, 512, 32, &sizes).unwrap();
        assert_eq!((plan.tile, plan.cores.len()), (576, 1));
        // A 300 × 200 grid: a single 368² tile (300 rounded to 8, plus the halos).
        let fitted = fitted_sizes(300, 200, 32, 8, MAX_FITTED_TILE);
        assert!(fitted.contains(&368), "{fitted:?}");
        assert!(fitted.iter().all(|&t| t % 8 == 0 && t <= MAX_FITTED_TILE));
        // 2048²: 4 × 4 tiles of 512 + 64.
        let mut sizes = TILE_SIZES.to_vec();
        sizes.extend(fitted_sizes(2048, 2048, 32, 8, MAX_FITTED_TILE));
        let plan = TilePlan::choose(2048, 2048, 32, &sizes).unwrap();
        assert_eq!((plan.tile, plan.cores.len()), (576, 16));
    }

    #[test]
    fn every_view_maps_back_onto_the_tile() {
        let t = 6;
        let tile: Vec<f32> = (0..t * t).map(|i| i as f32).collect();
        let views: Vec<Vec<f32>> = (0..MAX_VIEWS).map(|k| dihedral(&tile, t, k)).collect();
        // Eight different images: every symmetry of the square once.
        for a in 0..MAX_VIEWS {
            for b in 0..a {
                assert_ne!(views[a], views[b], "views {a} and {b} coincide");
            }
        }
        // A network that returns its input (two heads, one with two channels) gives the
        // tile back on every view, so their average is the tile itself.
        let outputs = views
            .iter()
            .map(|v| vec![v.clone(), [v.clone(), v.clone()].concat()])
            .collect();
        let back = average_views(outputs, t).unwrap();
        assert_eq!(back[0], tile);
        assert_eq!(back[1], [tile.clone(), tile.clone()].concat());
    }

    #[test]
    fn mismatched_views_are_model_errors() {
        let t = 4;
        let err = average_views(Vec::new(), t).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Model);
        // A head that is not whole t × t planes, and views that disagree on a head.
        let err = average_views(vec![vec![vec![0.0; t * t + 1]]], t).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Model, "{err}");
        let views = vec![vec![vec![0.0; 2 * t * t]], vec![vec![0.0; t * t]]];
        let err = average_views(views, t).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Model, "{err}");
        assert!(err.message.contains("view 1"), "{err}");
    }

    #[test]
    fn window_mirrors_at_borders() {
        let (w, h) = (5, 4);
        let img: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
        let plan = TilePlan::with_tile(w, h, 8, 2);
        let win = plan.window(&img, (0, 0));
        // Window row 2 is image row 0; window column 2 is image column 0; column 1 mirrors column 1.
        assert_eq!(win[2 * 8 + 2], 0.0);
        assert_eq!(win[2 * 8 + 1], 1.0);
        assert_eq!(win[8 + 2], 5.0);
    }
}
