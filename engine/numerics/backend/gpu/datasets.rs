//! Datasets on the GPU: each distinct training and test set uploaded once and
//! shared by every run on the same loaded data, the training features as
//! one-byte codes where they fit.

use std::sync::Arc;

use super::GpuBackend;
use crate::data::{Samples, SplitData};
use crate::numerics::backend::TestSet;
use crate::numerics::gpu::{Features, GpuBuffer, GpuContext, GpuError, codes};

/// How to make a dataset fit one binding.
const SMALLER_DATASET: &str = "Use a smaller dataset (training.data.limit_train and limit_test)";

/// Samples on the device, as evaluations read them.
pub(super) struct DeviceSet {
    pub(super) x: GpuBuffer<f32>,
    pub(super) y: GpuBuffer<u32>,
    pub(super) rows: usize,
}

impl DeviceSet {
    fn upload(context: &GpuContext, label: &str, samples: &Samples) -> Result<Self, GpuError> {
        Ok(DeviceSet {
            x: bindable(context, &format!("the {label} set's features"), &samples.x)?,
            y: labels(context, label, samples)?,
            rows: samples.len(),
        })
    }
}

/// A training set on the device, as the minibatch gather reads it: one-byte
/// codes when it has at most 256 distinct feature values (every image dataset;
/// a quarter of the memory), else the values.
pub(super) struct TrainSet {
    features: TrainFeatures,
    pub(super) y: GpuBuffer<u32>,
}

enum TrainFeatures {
    Plain(GpuBuffer<f32>),
    Coded { codes: GpuBuffer<u32>, palette: GpuBuffer<f32> },
}

impl TrainSet {
    fn upload(context: &GpuContext, samples: &Samples) -> Result<Self, GpuError> {
        // The gather indexes features with 32-bit integers.
        if u32::try_from(samples.x.len()).is_err() {
            let (bytes, limit) = (samples.x.len() as u64, u64::from(u32::MAX));
            return Err(GpuError::TooLarge {
                what: "the training set's feature codes".into(),
                bytes,
                limit,
                remedy: SMALLER_DATASET,
            });
        }
        let features = match codes::encode(&samples.x) {
            Some((codes, palette)) => TrainFeatures::Coded {
                codes: bindable(context, "the training set's feature codes", &codes)?,
                palette: context.upload("train palette", &palette)?,
            },
            None => TrainFeatures::Plain(bindable(context, "the training set's features", &samples.x)?),
        };
        Ok(TrainSet { features, y: labels(context, "training", samples)? })
    }

    pub(super) fn features(&self) -> Features<'_> {
        match &self.features {
            TrainFeatures::Plain(x) => Features::Plain(x),
            TrainFeatures::Coded { codes, palette } => Features::Coded { codes, palette },
        }
    }
}

/// Uploads `data` as one buffer a kernel binds whole: an error naming `what`
/// when it is larger than the adapter can bind at once.
fn bindable<T: bytemuck::Pod>(
    context: &GpuContext,
    what: &str,
    data: &[T],
) -> Result<GpuBuffer<T>, GpuError> {
    let (bytes, limit) = (std::mem::size_of_val(data) as u64, context.max_binding_bytes());
    if bytes > limit {
        return Err(GpuError::TooLarge { what: what.to_string(), bytes, limit, remedy: SMALLER_DATASET });
    }
    context.upload(what, data)
}

fn labels(context: &GpuContext, set: &str, samples: &Samples) -> Result<GpuBuffer<u32>, GpuError> {
    let labels: Vec<u32> = samples.y.iter().map(|&y| u32::from(y)).collect();
    bindable(context, &format!("the {set} set's labels"), &labels)
}

/// One [`SplitData`] on the device. Its training and test sets are shared with
/// every other split of the same loaded data (seeds, sweep points): uploaded once.
pub(super) struct DeviceData<'d> {
    source: &'d SplitData,
    pub(super) train: Arc<TrainSet>,
    test: Arc<DeviceSet>,
    test_subset: Option<DeviceSet>,
    pub(super) train_eval: DeviceSet,
}

impl DeviceData<'_> {
    pub(super) fn test_set(&self, on: TestSet) -> &DeviceSet {
        match (on, &self.test_subset) {
            (TestSet::Subset, Some(subset)) => subset,
            _ => &self.test,
        }
    }
}

impl<'d> GpuBackend<'d> {
    /// The dataset index of `data`, uploading it on first use.
    pub(super) fn dataset(&mut self, data: &'d SplitData) -> Result<usize, GpuError> {
        let known =
            self.datasets.iter().position(|d| d.as_ref().is_some_and(|d| std::ptr::eq(d.source, data)));
        if let Some(index) = known {
            return Ok(index);
        }
        let context = &self.context;
        let train = self.shared_set(&data.train, |d| (&d.source.train, &d.train), TrainSet::upload)?;
        let test = self.shared_set(
            &data.test,
            |d| (&d.source.test, &d.test),
            |c, s| DeviceSet::upload(c, "test", s),
        )?;
        let device = DeviceData {
            source: data,
            train,
            test,
            test_subset: data
                .test_subset
                .as_ref()
                .map(|s| DeviceSet::upload(context, "test subset", s))
                .transpose()?,
            train_eval: DeviceSet::upload(context, "train sample", &data.train_eval)?,
        };
        match self.datasets.iter().position(Option::is_none) {
            Some(free) => {
                self.datasets[free] = Some(device);
                Ok(free)
            }
            None => {
                self.datasets.push(Some(device));
                Ok(self.datasets.len() - 1)
            }
        }
    }

    /// `samples` on the device: the set uploaded for another split of the very
    /// same samples (`of` picks a dataset's samples and their set), or a new
    /// `upload`.
    fn shared_set<S>(
        &self,
        samples: &Arc<Samples>,
        of: for<'a> fn(&'a DeviceData<'d>) -> (&'a Arc<Samples>, &'a Arc<S>),
        upload: fn(&GpuContext, &Samples) -> Result<S, GpuError>,
    ) -> Result<Arc<S>, GpuError> {
        let known = self.datasets.iter().flatten().map(of).find(|(source, _)| Arc::ptr_eq(source, samples));
        match known {
            Some((_, set)) => Ok(Arc::clone(set)),
            None => Ok(Arc::new(upload(&self.context, samples)?)),
        }
    }
}
