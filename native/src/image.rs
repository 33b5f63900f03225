//! A single-channel floating-point image with its calibration.

/// Row-major `f32` pixels. Pixel (row r, column c) has its centre at x = c, y = r.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    /// Å per pixel, when the calibration is known.
    pub pixel_size_angstrom: Option<f64>,
    pub data: Vec<f32>,
}

impl Image {
    pub fn new(width: usize, height: usize, pixel_size_angstrom: Option<f64>) -> Self {
        Image {
            width,
            height,
            pixel_size_angstrom,
            data: vec![0.0; width * height],
        }
    }

    pub fn from_vec(
        width: usize,
        height: usize,
        pixel_size_angstrom: Option<f64>,
        data: Vec<f32>,
    ) -> Self {
        assert_eq!(data.len(), width * height, "pixel count must match size");
        Image {
            width,
            height,
            pixel_size_angstrom,
            data,
        }
    }

    #[inline]
    pub fn get(&self, col: usize, row: usize) -> f32 {
        self.data[row * self.width + col]
    }

    pub fn mean(&self) -> f64 {
        self.data.iter().map(|&v| v as f64).sum::<f64>() / self.data.len().max(1) as f64
    }
}
