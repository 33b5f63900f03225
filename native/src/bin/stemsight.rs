//! `stemsight`: the command-line face of the engine (see `CONTRACT.md`).

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use stemsight::dataset::{write_dataset, DatasetConfig};
use stemsight::io;
use stemsight::sim::{simulate, BoundaryShape, Polymorph, SimRequest};

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

fn polymorph(name: &str) -> Result<Polymorph> {
    Polymorph::from_name(name).with_context(|| {
        format!("unknown polymorph '{name}' (expected 2H-1L, 2H-2L, 2H-3L, 3R-2L, 3R-3L or 1T)")
    })
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
    };
    let sample = simulate(&req, a.seed)?;
    write_sample(&a.out, &sample, a.png)?;
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

fn write_sample(out: &Path, s: &stemsight::sim::Sample, png: bool) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (w, h) = (s.image.width, s.image.height);
    io::tiff::write_f32(
        &out.join("image.tif"),
        w,
        h,
        &s.image.data,
        s.image.pixel_size_angstrom,
    )?;
    io::tiff::write_u8(
        &out.join("polymorph.tif"),
        w,
        h,
        &s.polymorph_map,
        s.image.pixel_size_angstrom,
    )?;
    io::tiff::write_f32(
        &out.join("carbon.tif"),
        w,
        h,
        &s.carbon_map,
        s.image.pixel_size_angstrom,
    )?;
    let truth = serde_json::to_string_pretty(&s.truth())?;
    std::fs::write(out.join("truth.json"), truth)?;
    if png {
        io::png::write(
            &out.join("image.png"),
            w,
            h,
            1,
            &io::png::to_display_bytes(&s.image.data),
        )?;
    }
    Ok(())
}

fn run_dataset(a: DatasetArgs) -> Result<()> {
    let cfg: DatasetConfig = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("invalid dataset config {}", p.display()))?
        }
        None => DatasetConfig::default(),
    };
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()?;
    }
    let bar = indicatif::ProgressBar::new(a.n as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} samples  {elapsed} (eta {eta})",
        )
        .expect("static template"),
    );
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

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(a) => run_simulate(a),
        Command::Dataset(a) => run_dataset(a),
    };
    if let Err(e) = result {
        eprintln!("stemsight: {e:#}");
        std::process::exit(1);
    }
}
