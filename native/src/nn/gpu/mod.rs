//! Optional GPU inference (feature `cuda`): the network of [`crate::nn::graph`] run with
//! cuDNN convolutions and NVRTC kernels through `cudarc`.
//!
//! The driver, cuDNN and NVRTC are loaded at run time. cudarc panics when a library
//! is missing, so their presence is checked first, and every CUDA call runs under
//! `catch_unwind` as well: a machine without a GPU gets an error message, never a crash.
//!
//! cuDNN handles must stay on one thread, while a `Network` is shared between
//! threads. [`CudaWorker`] therefore owns the [`CudaNetwork`] on a thread of its
//! own and takes batches through a channel; callers on any thread just wait for
//! their answer, and concurrent batches queue up in front of the one GPU.

mod engine;
mod kernels;

pub use engine::CudaNetwork;

use crate::error::{Error, Result};
use crate::nn::graph::Graph;
use crate::nn::graph::TileOutput;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;

/// Turns a cudarc error into the crate's ([`crate::ErrorKind::Device`]), saying what
/// was being done.
pub(crate) fn cuda_err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::device(format!("CUDA ({what}): {e}"))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The shared libraries the backend needs, looked up the way cudarc will load them.
fn check_libraries() -> Result<()> {
    // SAFETY: each check only opens and closes the library (running its initializers,
    // which is what loading it for real does too).
    let found = unsafe {
        [
            (
                cudarc::driver::sys::is_culib_present(),
                "the NVIDIA driver (libcuda.so.1) is not installed",
            ),
            (
                cudarc::cudnn::sys::is_culib_present(),
                "cuDNN (libcudnn.so.9) was not found; install cuDNN 9 or add it to LD_LIBRARY_PATH",
            ),
            (
                cudarc::nvrtc::sys::is_culib_present(),
                "NVRTC (libnvrtc.so.12) was not found; install the CUDA 12 runtime libraries",
            ),
        ]
    };
    match found.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(Error::device(*why)),
        None => Ok(()),
    }
}

/// The first GPU's name, driver and cuDNN versions, or why there is none usable.
pub fn probe() -> Result<String> {
    check_libraries()?;
    catch_unwind(|| {
        let count = cudarc::driver::CudaContext::device_count()
            .map_err(|e| Error::device(format!("the NVIDIA driver does not answer: {e}")))?;
        if count < 1 {
            return Err(Error::device("no CUDA device found"));
        }
        let ctx = cudarc::driver::CudaContext::new(0)
            .map_err(|e| Error::device(format!("cannot open GPU 0: {e}")))?;
        Ok(engine::describe(&ctx))
    })
    .unwrap_or_else(|p| Err(Error::device(panic_message(&*p))))
}

type Reply = Result<Vec<TileOutput>>;

struct Job {
    tile: usize,
    inputs: Vec<Vec<f32>>,
    reply: mpsc::Sender<Reply>,
}

/// A [`CudaNetwork`] on its own thread; `Send + Sync`, so a `Network` can hold it.
pub struct CudaWorker {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
    description: String,
}

impl CudaWorker {
    /// Loads `graph` onto GPU `ordinal`; the error ([`crate::ErrorKind::Device`]) says why
    /// the GPU cannot be used.
    pub fn start(graph: Graph, ordinal: usize) -> Result<CudaWorker> {
        check_libraries()?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel::<Result<String>>();
        let thread = thread::Builder::new()
            .name("stemsight-cuda".into())
            .spawn(move || serve(graph, ordinal, queue, ready))
            .map_err(|e| Error::device(format!("cannot start the GPU thread: {e}")))?;
        match started.recv() {
            Ok(Ok(description)) => Ok(CudaWorker {
                jobs: Some(jobs),
                thread: Some(thread),
                description,
            }),
            Ok(Err(why)) => {
                let _ = thread.join();
                Err(why)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::device(
                    "the GPU thread stopped while loading the network",
                ))
            }
        }
    }

    /// The GPU, driver and cuDNN in use.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Runs a batch on the GPU (see [`CudaNetwork::run_batch`]).
    pub fn run_batch(&self, tile: usize, inputs: Vec<Vec<f32>>) -> Reply {
        let gone = || Error::device("CUDA: the GPU thread has stopped");
        let (reply, answer) = mpsc::channel();
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(Job {
                tile,
                inputs,
                reply,
            })
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for CudaWorker {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop; it frees the GPU objects itself.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    graph: Graph,
    ordinal: usize,
    queue: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<String>>,
) {
    let loaded = catch_unwind(AssertUnwindSafe(|| CudaNetwork::load(graph, ordinal)));
    let mut net = match loaded {
        Ok(Ok(net)) => net,
        Ok(Err(e)) => {
            let _ = ready.send(Err(e));
            return;
        }
        Err(p) => {
            let _ = ready.send(Err(Error::device(panic_message(&*p))));
            return;
        }
    };
    let _ = ready.send(Ok(net.description().to_string()));
    // After a panic the GPU state is unknown; later batches fail rather than guess.
    let mut broken: Option<String> = None;
    for job in queue {
        let result = match broken.clone() {
            Some(why) => Err(Error::device(format!(
                "CUDA: unusable after an earlier failure ({why})"
            ))),
            None => catch_unwind(AssertUnwindSafe(|| net.run_batch(job.tile, &job.inputs)))
                .unwrap_or_else(|p| {
                    let why = panic_message(&*p);
                    broken = Some(why.clone());
                    Err(Error::device(format!("CUDA inference panicked: {why}")))
                }),
        };
        let _ = job.reply.send(result);
    }
}
