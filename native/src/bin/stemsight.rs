//! `stemsight`: the command-line face of the engine (see `CONTRACT.md`).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use stemsight::analysis::localize::Refinement;
use stemsight::analysis::{default_models_dir, settings, Exposure, PixelSizeSource, Source};
use stemsight::crystal::{Chemistry, Polymorph};
use stemsight::eval::{evaluate, summary_table};
use stemsight::io::read_image_with;
use stemsight::io::ReadOptions;
use stemsight::report::folder::write_analysis;
use stemsight::sim::dataset::{write_dataset, write_testset, DatasetConfig};
use stemsight::sim::{simulate, BoundaryShape, SimRequest};
use stemsight::{Analyzer, Device, Options, Tasks};

#[derive(Parser)]
#[command(
    name = "stemsight",
    version,
    about = "Atoms, S vacancies, polymorphs and carbon in HAADF-STEM images of MoS2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate one HAADF-STEM image with exact truth.
    Simulate(SimulateArgs),
    /// Simulate many training samples in parallel as .npy shards.
    Dataset(DatasetArgs),
    /// Simulate held-out folders (image + truth) for `stemsight eval`.
    Testset(TestsetArgs),
    /// Find atoms, vacancies, polymorphs and carbon in images.
    Analyze(AnalyzeArgs),
    /// Score the whole pipeline on simulated folders with truth.
    Eval(EvalArgs),
}

#[derive(Args)]
struct TestsetArgs {
    #[arg(long)]
    n: usize,
    /// Base seed; held-out sets use 900000 and up (training 1000+, validation 500000+).
    #[arg(long)]
    seed: u64,
    /// JSON file of ranges (DatasetConfig), e.g. scripts/data/eval.json.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Field of view in Å; each image is sized to it at its pixel size (else config size).
    #[arg(long)]
    field: Option<f64>,
    #[arg(long)]
    out: PathBuf,
}

/// Settings shared by `analyze` and `eval`.
#[derive(Args, Clone)]
struct EngineArgs {
    /// Model directory (default: STEMSIGHT_MODELS, the repository's models/, ./models).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Keep contaminated areas in the statistics.
    #[arg(long)]
    no_carbon_filter: bool,
    /// Let the carbon map alone decide what is contaminated, without checking its call
    /// against the signal at the lattice's hollow sites.
    #[arg(long)]
    no_hollow_check: bool,
    /// Carbon-map level (0..1, × 10 Å) from which an area counts as contaminated.
    #[arg(long, default_value_t = settings::CARBON_THRESHOLD.default)]
    carbon_threshold: f64,
    /// Average the carbon map over about this many Å (σ) before thresholding, so that the
    /// decision does not depend on whether a site holds a column (0: pixel by pixel).
    #[arg(long, default_value_t = settings::CARBON_SMOOTHING_A.default)]
    carbon_smoothing: f64,
    /// Sub-pixel refinement of columns: combined (image and heatmap fits, weighted by column kind
    /// and contamination), gaussian (2D fit on the image alone), centroid (on the image) or heatmap.
    #[arg(long, default_value = Options::default().refinement.name())]
    refinement: String,
    /// Do not estimate and remove scan-line jitter from the columns (fast x offsets per line,
    /// and slow x/y line displacements measured against the crystal lattice).
    #[arg(long)]
    no_line_correction: bool,
    /// Average polymorph probabilities over this many Å before each pixel takes its
    /// most likely class (0: per pixel).
    #[arg(long, default_value_t = settings::POLYMORPH_SMOOTHING.default)]
    polymorph_smoothing: f64,
    /// Views of each tile the network sees, averaged: 1 (as it is) up to 8 (every
    /// rotation and mirror); 8 is about 7× slower and a little more accurate.
    #[arg(long, default_value_t = settings::VIEWS.default as usize)]
    views: usize,
    /// cpu, or cuda (builds with the `cuda` feature; falls back to the CPU with a warning).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Context around each tile centre, in model pixels.
    #[arg(long, default_value_t = settings::HALO.default as usize)]
    halo: usize,
    /// The TMD imaged: MoS2, WS2, MoSe2 or WSe2. Its lattice constant checks the
    /// calibration (MoS2 assumed, and said so, when absent).
    #[arg(long)]
    chemistry: Option<String>,
    /// The polymorphs the specimen can hold, comma-separated (e.g. 2H-1L for a known
    /// monolayer); the polymorph map then chooses among these alone (default: all six).
    #[arg(long)]
    polymorphs: Option<String>,
    /// Incident dose, e⁻/Å², of an image in detected electrons per pixel: the 2H layer count
    /// is then read from the absolute signal against the simulator's multislice-calibrated
    /// response, and 2H pixels 1.15× above their stack's share are flagged as carbon (needs
    /// the voltage and detector angles, from the file or --kv and --detector-mrad).
    #[arg(long)]
    dose: Option<f64>,
    /// Accelerating voltage, kV (overrides the file's). With the detector angles, the 2H
    /// areas' column contrast is compared with the simulator's at these optics, and a 2H
    /// class it clearly contradicts is relabelled to the layer count it fits.
    #[arg(long)]
    kv: Option<f64>,
    /// Probe convergence semi-angle, mrad (overrides the file's; 23 when neither says).
    #[arg(long)]
    convergence: Option<f64>,
    /// Annular detector collection angles INNER-OUTER in mrad, e.g. 66-192 (overrides the
    /// file's); with the voltage, the column contrast counts 2H layers (see --kv).
    #[arg(long)]
    detector_mrad: Option<DetectorAngles>,
    /// Atom heatmap level (0..1) a column peak must reach.
    #[arg(long, default_value_t = settings::ATOM_THRESHOLD.default as f32)]
    atom_threshold: f32,
    /// P(VS1) + P(VS2) level (0..1) that outlines a vacancy.
    #[arg(long, default_value_t = settings::VACANCY_THRESHOLD.default as f32)]
    vacancy_threshold: f32,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// TIFF (8/16/32-bit, stacks), PNG, Velox EMD, DM3/DM4, SER/EMI or MRC files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Å per pixel, or `lattice` to measure it on the image's own columns (needs
    /// --chemistry); read from the file's calibration when absent.
    #[arg(long)]
    pixel_size: Option<PixelSize>,
    /// Which detector's image to read from a multi-detector file (e.g. HAADF, ADF1, DF4;
    /// default: the HAADF, else the highest-angle annular detector).
    #[arg(long)]
    detector: Option<String>,
    /// Comma-separated subset of atoms,vacancies,polymorph,carbon.
    #[arg(long, default_value = "atoms,vacancies,polymorph,carbon")]
    tasks: String,
    /// Keep results that are already complete (a folder with report.json) and analyze the
    /// rest: whole inputs, and in stacks each frame (DIR/<stem>/frame-NNNN) on its own, so
    /// an interrupted batch resumes where it stopped.
    #[arg(long)]
    skip_existing: bool,
    #[command(flatten)]
    engine: EngineArgs,
    #[arg(long)]
    out: PathBuf,
}

/// `--detector-mrad`: the inner and outer collection angles, `INNER-OUTER`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DetectorAngles(f64, f64);

impl std::str::FromStr for DetectorAngles {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("'{s}' is not INNER-OUTER in mrad (e.g. 66-192)");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let inner = a.trim().parse::<f64>().map_err(|_| bad())?;
        let outer = b.trim().parse::<f64>().map_err(|_| bad())?;
        Ok(DetectorAngles(inner, outer))
    }
}

/// `--pixel-size`: a number of Å per pixel, or `lattice`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PixelSize {
    Angstrom(f64),
    Lattice,
}

impl std::str::FromStr for PixelSize {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.eq_ignore_ascii_case("lattice") {
            return Ok(PixelSize::Lattice);
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(PixelSize::Angstrom(v)),
            _ => Err(format!("'{s}' is neither a pixel size in Å nor 'lattice'")),
        }
    }
}

#[derive(Args)]
struct EvalArgs {
    /// Folder of simulate-style folders (image.tif, truth.json, polymorph.tif, carbon.tif).
    #[arg(long)]
    data: PathBuf,
    /// Write the JSON scores here (also printed).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct SimulateArgs {
    /// 2H-1L, 2H-2L, 2H-3L, 3R-2L, 3R-3L or 1T.
    #[arg(long)]
    polymorph: String,
    /// A second polymorph beyond a boundary through the field of view.
    #[arg(long)]
    second_polymorph: Option<String>,
    /// Boundary shape with --second-polymorph: straight, irregular or random.
    #[arg(long, default_value = "random")]
    boundary: String,
    /// Image width and height in pixels.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Å per pixel.
    #[arg(long, default_value_t = 0.1)]
    pixel_size: f64,
    /// In-plane rotation of the lattice (degrees); random when absent.
    #[arg(long)]
    rotation_deg: Option<f64>,
    /// Maximum strain component, e.g. 0.02 for ±2 %.
    #[arg(long, default_value_t = 0.0)]
    strain: f64,
    #[arg(long, default_value_t = 0.03)]
    vs1_fraction: f64,
    #[arg(long, default_value_t = 0.01)]
    vs2_fraction: f64,
    /// Fraction of Mo sites left empty (distractor).
    #[arg(long, default_value_t = 0.0)]
    mo_vacancy_fraction: f64,
    /// Adatoms per nm² (distractor).
    #[arg(long, default_value_t = 0.0)]
    adatoms: f64,
    /// Fraction of the field of view that is vacuum.
    #[arg(long, default_value_t = 0.0)]
    holes: f64,
    /// Incident dose, e⁻/Å².
    #[arg(long, default_value_t = 1e5)]
    dose: f64,
    /// Amorphous-carbon level 0..1.
    #[arg(long, default_value_t = 0.0)]
    carbon: f64,
    /// Scan-noise level 0..1.
    #[arg(long, default_value_t = 0.0)]
    scan_noise: f64,
    /// No degradations, nominal aberration-free optics.
    #[arg(long)]
    clean: bool,
    /// MoS2 (default), WS2, MoSe2 or WSe2: same structures, other atoms and lattice constant.
    #[arg(long, default_value = "MoS2")]
    chemistry: String,
    /// Record with a low-angle annular detector (inner 25–40 mrad, outer 60–120 mrad)
    /// instead of a high-angle one; ignored with --clean.
    #[arg(long)]
    low_angle_adf: bool,
    /// Also write image.png.
    #[arg(long)]
    png: bool,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct DatasetArgs {
    #[arg(long)]
    n: usize,
    #[arg(long)]
    seed: u64,
    /// JSON file of ranges (see scripts/data/*.json); defaults when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// `--threads N`: the size of rayon's global pool, which the whole engine uses.
fn use_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        stemsight::analysis::threads_range().check(t as f64)?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    Ok(())
}

fn polymorph(name: &str) -> Result<Polymorph> {
    Polymorph::from_name(name).with_context(|| {
        format!("unknown polymorph '{name}' (expected 2H-1L, 2H-2L, 2H-3L, 3R-2L, 3R-3L or 1T)")
    })
}

fn chemistry(name: &str) -> Result<Chemistry> {
    Chemistry::from_name(name)
        .with_context(|| format!("unknown chemistry '{name}' (expected MoS2, WS2, MoSe2 or WSe2)"))
}

fn run_simulate(a: SimulateArgs) -> Result<()> {
    let boundary = match a.boundary.as_str() {
        "straight" => BoundaryShape::Straight,
        "irregular" => BoundaryShape::Irregular,
        "random" => BoundaryShape::Random,
        other => bail!("unknown boundary '{other}' (straight, irregular or random)"),
    };
    let req = SimRequest {
        polymorph: polymorph(&a.polymorph)?,
        second_polymorph: a.second_polymorph.as_deref().map(polymorph).transpose()?,
        boundary,
        width: a.size,
        height: a.size,
        pixel_size_angstrom: a.pixel_size,
        rotation_deg: a.rotation_deg,
        strain: a.strain,
        vs1_fraction: a.vs1_fraction,
        vs2_fraction: a.vs2_fraction,
        mo_vacancy_fraction: a.mo_vacancy_fraction,
        adatoms_per_nm2: a.adatoms,
        hole_fraction: a.holes,
        dose_e_per_angstrom2: a.dose,
        carbon: a.carbon,
        scan_noise: a.scan_noise,
        clean: a.clean,
        chemistry: chemistry(&a.chemistry)?,
        low_angle_adf: a.low_angle_adf,
    };
    let sample = simulate(&req, a.seed)?;
    stemsight::sim::folder::write_simulation(&a.out, &sample, a.png)?;
    eprintln!(
        "{}: {}×{} px at {} Å/px, {} columns, {} vacancies",
        a.out.display(),
        sample.image.width,
        sample.image.height,
        a.pixel_size,
        sample.columns.len(),
        sample.vacancies.len()
    );
    Ok(())
}

/// A dataset config from a JSON file of ranges, or the defaults (= scripts/data/train.json).
fn load_config(path: Option<&Path>) -> Result<DatasetConfig> {
    let Some(p) = path else {
        return Ok(DatasetConfig::default());
    };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("invalid dataset config {}", p.display()))
}

fn run_dataset(a: DatasetArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref())?;
    use_threads(a.threads)?;
    let bar = progress_bar(a.n, "samples");
    let t0 = std::time::Instant::now();
    write_dataset(&cfg, a.n, a.seed, &a.out, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} samples in {:.1} s",
        a.out.display(),
        a.n,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_testset(a: TestsetArgs) -> Result<()> {
    let cfg = load_config(a.config.as_deref())?;
    let bar = progress_bar(a.n, "images");
    write_testset(&cfg, a.n, a.seed, a.field, &a.out, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{}: {} held-out folders (seed {})",
        a.out.display(),
        a.n,
        a.seed
    );
    Ok(())
}

fn progress_bar(n: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what}  {{elapsed}} (eta {{eta}}) {{msg}}"
        ))
        .expect("static template"),
    );
    bar
}

/// Turns the shared flags into options and loads the models; every setting is checked
/// against its range before anything is loaded.
fn engine(e: &EngineArgs, tasks: Tasks) -> Result<(Analyzer, Options)> {
    let options = Options {
        tasks,
        carbon_filter: !e.no_carbon_filter,
        hollow_check: !e.no_hollow_check,
        carbon_threshold: e.carbon_threshold,
        carbon_smoothing_a: e.carbon_smoothing,
        views: e.views,
        refinement: e
            .refinement
            .parse::<Refinement>()
            .map_err(anyhow::Error::msg)?,
        halo: e.halo,
        atom_threshold: e.atom_threshold,
        vacancy_threshold: e.vacancy_threshold,
        line_correction: !e.no_line_correction,
        polymorph_smoothing_a: e.polymorph_smoothing,
        chemistry: e.chemistry.as_deref().map(chemistry).transpose()?,
        polymorphs: Polymorph::parse_list(e.polymorphs.as_deref().unwrap_or(""))
            .map_err(anyhow::Error::msg)?,
        exposure: Exposure {
            dose_e_per_a2: e.dose,
            kv: e.kv,
            convergence_mrad: e.convergence,
            detector_mrad: e.detector_mrad.map(|d| (d.0, d.1)),
        },
        ..Options::default()
    };
    options.validate()?;
    use_threads(e.threads)?;
    let device: Device = e.device.parse()?;
    let dir = e.models.clone().unwrap_or_else(default_models_dir);
    let mut analyzer = Analyzer::load(&dir)?;
    if device == Device::Cuda {
        // A batch job asked for the GPU should still finish where there is none.
        if let Err(why) = analyzer.use_device(Device::Cuda) {
            eprintln!("warning: CUDA unavailable ({why}); running on CPU");
        }
    }
    Ok((analyzer, options))
}

fn run_analyze(a: AnalyzeArgs) -> Result<()> {
    let tasks = Tasks::parse(&a.tasks)?;
    let (analyzer, options) = engine(&a.engine, tasks)?;
    if a.pixel_size == Some(PixelSize::Lattice) && options.chemistry.is_none() {
        bail!(
            "--pixel-size lattice needs --chemistry (MoS2, WS2, MoSe2 or WSe2): their \
             lattice constants differ by up to 4 %"
        );
    }
    let read = ReadOptions {
        detector: a.detector.clone(),
        ..ReadOptions::default()
    };
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    // What an interrupted run left: a result moved aside is put back, partial ones go.
    for problem in stemsight::report::folder::recover_leftovers(&a.out) {
        eprintln!("warning: {problem}");
    }
    let bar = progress_bar(a.images.len(), "images");
    if a.images.len() < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // A hidden bar swallows println, so print through it only when it is drawn.
    let print = |line: String| {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    };
    let complain = |line: String| bar.suspend(|| eprintln!("{line}"));
    let mut failed = 0;
    let names = output_names(&a.images);
    for (k, path) in a.images.iter().enumerate() {
        let stem = names[k].clone();
        bar.set_message(stem.clone());
        match analyze_file(
            &analyzer,
            &options,
            &read,
            path,
            a.pixel_size,
            &a.out.join(&stem),
            a.skip_existing,
            &print,
            &complain,
        ) {
            Ok(0) => {}
            // Each failed frame has had its line; the file counts as failed.
            Ok(_) => failed += 1,
            Err(e) => {
                failed += 1;
                // Most errors name their file already; name it once.
                let msg = format!("{e:#}").replace('\n', " ");
                let name = path.display().to_string();
                if msg.starts_with(&name) {
                    complain(format!("stemsight: {msg}"));
                } else {
                    complain(format!("stemsight: {name}: {msg}"));
                }
            }
        }
        bar.set_position(k as u64 + 1);
    }
    bar.finish_and_clear();
    if failed > 0 {
        bail!("{failed} of {} inputs failed", a.images.len());
    }
    Ok(())
}

/// Output folder names: the file stem, or `<parent>_<stem>` where stems collide
/// (e.g. many `image.tif` in simulation folders), numbered if that still collides.
/// Names are compared ignoring case, as file systems on macOS and Windows do, so two
/// inputs never share a folder; a stem that is no folder name (`.`, `..`) becomes `image`.
fn output_names(paths: &[PathBuf]) -> Vec<String> {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty() && s != "." && s != "..")
            .unwrap_or_else(|| "image".into())
    };
    let mut count = std::collections::HashMap::new();
    for p in paths {
        *count.entry(stem(p).to_lowercase()).or_insert(0) += 1;
    }
    let mut used = std::collections::HashSet::new();
    paths
        .iter()
        .map(|p| {
            let s = stem(p);
            let mut name = if count[&s.to_lowercase()] > 1 {
                let parent = p
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{parent}_{s}")
            } else {
                s
            };
            let base = name.clone();
            let mut k = 1;
            while !used.insert(name.to_lowercase()) {
                k += 1;
                name = format!("{base}-{k}");
            }
            name
        })
        .collect()
}

/// Analyzes every frame of one file into `out` (a stack: `out/frame-NNNN`), printing
/// each frame's summary as its folder is written. Every frame is its own unit: its
/// folder is replaced atomically and only when complete (`write_analysis`), with
/// `skip_existing` a complete one is kept, and in a stack a frame that fails is
/// reported as one `complain` line naming the file and frame while the others go on.
/// Returns how many frames failed; an error is a file that could not be used at all
/// (unreadable, or its one image failed).
#[allow(clippy::too_many_arguments)]
fn analyze_file(
    analyzer: &Analyzer,
    options: &Options,
    read: &ReadOptions,
    path: &Path,
    pixel_size: Option<PixelSize>,
    out: &Path,
    skip_existing: bool,
    print: &dyn Fn(String),
    complain: &dyn Fn(String),
) -> Result<usize> {
    let name = path.display().to_string();
    if out.is_dir() {
        // A stack's frames are folders inside `out`: finish their interrupted writes.
        for problem in stemsight::report::folder::recover_leftovers(out) {
            complain(format!("warning: {problem}"));
        }
    }
    let frame_dir = |f: usize| out.join(format!("frame-{f:04}"));
    if skip_existing {
        if stemsight::report::folder::is_complete(out) {
            print(format!("{name}: already analyzed, skipped"));
            return Ok(0);
        }
        // A stack whose frames are all done is skipped without reading it again; its
        // first frame's report says how many frames it has.
        let frames = std::fs::read_to_string(frame_dir(0).join("report.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|report| report["image"]["frames"].as_u64())
            .map(|n| n as usize);
        if let Some(n) = frames.filter(|&n| {
            n > 1 && (0..n).all(|f| stemsight::report::folder::is_complete(&frame_dir(f)))
        }) {
            for f in 0..n {
                print(format!("[frame {f}] {name}: already analyzed, skipped"));
            }
            return Ok(0);
        }
    }
    let loaded = read_image_with(path, read)?;
    let n = loaded.frames.len();
    if pixel_size.is_none()
        && loaded
            .frames
            .iter()
            .all(|f| f.pixel_size_angstrom.is_none())
    {
        bail!(
            "no pixel size: the file has no usable calibration; pass --pixel-size in Å \
             (or --pixel-size lattice with --chemistry)"
        )
    }
    // One pixel size for the whole file (argument, or a stack's calibration): refused
    // once, not once per frame.
    let shared = match pixel_size {
        Some(PixelSize::Angstrom(p)) => Some(p),
        Some(PixelSize::Lattice) => None,
        None => loaded.frames[0].pixel_size_angstrom.filter(|&p| {
            loaded
                .frames
                .iter()
                .all(|f| f.pixel_size_angstrom == Some(p))
        }),
    };
    if let Some(p) = shared {
        stemsight::analysis::check_pixel_size(p)?;
    }
    let go_on = &|_, _| true;
    let mut failed = 0;
    for (f, frame) in loaded.frames.iter().enumerate() {
        let dir = if n > 1 {
            frame_dir(f)
        } else {
            out.to_path_buf()
        };
        if skip_existing && n > 1 && stemsight::report::folder::is_complete(&dir) {
            print(format!("[frame {f}] {name}: already analyzed, skipped"));
            continue;
        }
        let analyzed = || -> Result<Vec<String>> {
            let source = |pixel_size_source| Source {
                path: name.clone(),
                pixel_size_source,
                frame: f,
                frames: n,
                acquisition: loaded.acquisition.clone(),
                reader_warnings: loaded.warnings.clone(),
            };
            let analysis = match (pixel_size, frame.pixel_size_angstrom) {
                (Some(PixelSize::Lattice), _) => {
                    let chemistry = options
                        .chemistry
                        .context("--pixel-size lattice needs --chemistry")?;
                    let source = source(PixelSizeSource::Lattice);
                    analyzer.analyze_self_calibrated(frame, chemistry, &source, options, go_on)?
                }
                (given, file) => {
                    let (p, from) = match (given, file) {
                        (Some(PixelSize::Angstrom(p)), _) => (p, PixelSizeSource::Argument),
                        (_, Some(p)) => (p, PixelSizeSource::File),
                        _ => bail!("no pixel size: this frame has no calibration"),
                    };
                    analyzer.analyze(frame, p, &source(from), options, go_on)?
                }
            };
            write_analysis(&dir, &analysis, &frame.data)?;
            let mut lines = vec![analysis.report.summary_text()];
            if n > 1 {
                lines[0] = format!("[frame {f}] {}", lines[0]);
            }
            for w in &analysis.report.warnings {
                lines.push(format!("  warning: {w}"));
            }
            Ok(lines)
        };
        match analyzed() {
            Ok(lines) => lines.into_iter().for_each(print),
            Err(e) if n == 1 => return Err(e),
            Err(e) => {
                failed += 1;
                let msg = format!("{e:#}").replace('\n', " ");
                let msg = msg
                    .strip_prefix(&format!("{name}: "))
                    .unwrap_or(&msg)
                    .to_string();
                complain(format!("stemsight: {name} [frame {f}]: {msg}"));
            }
        }
    }
    Ok(failed)
}

fn run_eval(a: EvalArgs) -> Result<()> {
    let (analyzer, options) = engine(&a.engine, Tasks::default())?;
    let n = stemsight::eval::sample_dirs(&a.data)?.len();
    let bar = progress_bar(n, "images");
    let report = evaluate(&analyzer, &a.data, &options, &|done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    print!("{}", summary_table(&report));
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(out) = &a.out {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(out, &json).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("scores written to {}", out.display());
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(a) => run_simulate(a),
        Command::Dataset(a) => run_dataset(a),
        Command::Testset(a) => run_testset(a),
        Command::Analyze(a) => run_analyze(a),
        Command::Eval(a) => run_eval(a),
    };
    if let Err(e) = result {
        eprintln!("stemsight: {e:#}");
        std::process::exit(1);
    }
}
