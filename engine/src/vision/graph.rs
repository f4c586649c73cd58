//! A small run-time ONNX executor: the graph that `onnx-ir` parses, run node
//! by node with burn tensor ops on any burn device.
//!
//! Only the operators the supported model packs use are implemented (SCRFD and
//! ArcFace: convolutions, activations, batch norm, linear, resize, reshape,
//! transpose, concat and the shape arithmetic of dynamic reshapes); any other
//! operator is refused when the model is loaded, never in the middle of a run.
//!
//! Float tensors of logical rank 1 to 4 are stored as burn `Tensor<4>` with
//! leading unit dimensions, so one code path serves every rank. Integer values
//! (shapes, indices) live on the CPU as `Vec<i64>`: they are tiny.

use std::collections::HashMap;

use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{DType, Device, Int, Tensor, TensorData, activation, module};
use onnx_ir::ir::Argument;
use onnx_ir::node::padding::PaddingConfig2d;
use onnx_ir::node::reshape::ReshapeInput;
use onnx_ir::node::resize::{ResizeMode, ResizeScales, ResizeSizes};
use onnx_ir::node::slice::SliceInput;
use onnx_ir::node::unsqueeze::UnsqueezeConfig;
use onnx_ir::{Node, OnnxGraph};

use super::conv_cpu::{Activation, BufferPool, ConvCpu, split_channels};

/// Why a graph could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The ONNX file could not be parsed.
    #[error("cannot parse the ONNX model: {0}")]
    Parse(String),
    /// The graph uses an operator or a form of one this executor lacks.
    #[error("unsupported ONNX operator {op} ({detail})")]
    Unsupported {
        /// Operator name.
        op: String,
        /// What exactly is not supported.
        detail: String,
    },
    /// A value the graph needs was never produced (malformed graph).
    #[error("ONNX value `{0}` is missing")]
    Missing(String),
    /// Shapes that do not fit together.
    #[error("shape error in {node}: {detail}")]
    Shape {
        /// Node name.
        node: String,
        /// What went wrong.
        detail: String,
    },
    /// The input the caller gave has the wrong shape.
    #[error("bad input: {0}")]
    Input(String),
    /// Reading results back from the device failed.
    #[error("device read failed: {0}")]
    Device(String),
}

/// A float tensor with its logical shape (rank ≤ 4), stored padded to rank 4.
#[derive(Clone, Debug)]
pub struct Ft {
    t: Tensor<4>,
    shape: Vec<usize>,
}

impl Ft {
    fn new(t: Tensor<4>, shape: Vec<usize>) -> Self {
        Self { t, shape }
    }

    fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Reshapes to a logical shape (same element count).
    fn reshape(self, shape: Vec<usize>) -> Self {
        let t = self.t.reshape(pad4(&shape));
        Self { t, shape }
    }

    /// The underlying rank-4 tensor (leading unit dims for lower ranks).
    pub fn into_tensor(self) -> Tensor<4> {
        self.t
    }

    /// Logical shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

fn pad4(shape: &[usize]) -> [usize; 4] {
    let mut out = [1usize; 4];
    let off = 4 - shape.len();
    out[off..].copy_from_slice(shape);
    out
}

/// A run-time value: a float tensor on the device, or small integers on the CPU.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
enum Value {
    F(Ft),
    I { data: Vec<i64>, shape: Vec<usize> },
}

#[derive(Debug)]
enum Op {
    Conv {
        weight: Tensor<4>,
        bias: Option<Tensor<1>>,
        options: ConvOptions<2>,
    },
    /// A grouped convolution with a few input channels per group (ArcFace
    /// MobileFaceNet's second layer: 64 groups of 2), run as that many
    /// depthwise convolutions over gathered input channels, summed. Used
    /// where burn runs the convolutions (the GPU, and dilated ones on the
    /// CPU): burn has fast depthwise kernels, while its general grouped path
    /// makes one tiny matrix product per group and tile (measured on flex:
    /// the layer took a third of the embedder's time).
    GroupedConv {
        /// For each input channel of a group: the input channel that feeds
        /// each output channel, and the depthwise weight `[out, 1, kh, kw]`.
        parts: Vec<(Tensor<1, Int>, Tensor<4>)>,
        bias: Option<Tensor<1>>,
        /// Depthwise options (one group per output channel).
        options: ConvOptions<2>,
    },
    /// A convolution (and the activation after it) on the CPU device,
    /// by this crate's own kernels (see [`super::conv_cpu`]). Convolutions
    /// of one input with the same geometry are merged into one (SCRFD's
    /// score, box and landmark heads): then each output takes the next
    /// `channels` of the merged output channels.
    ConvCpu {
        conv: Box<ConvCpu>,
        channels: Vec<usize>,
    },
    Relu,
    Sigmoid,
    PRelu(Tensor<1>),
    Add,
    /// Batch norm folded into `x * scale + shift` per channel (axis 1).
    Affine {
        scale: Tensor<1>,
        shift: Tensor<1>,
    },
    Flatten(usize),
    Linear {
        weight: Tensor<2>,
        bias: Option<Tensor<1>>,
    },
    Reshape(ReshapeInput),
    Transpose(Vec<usize>),
    ResizeNearest {
        sizes: Option<ResizeSizes>,
        scales: Option<ResizeScales>,
    },
    Concat(usize),
    Shape(usize, usize),
    Gather(usize),
    Unsqueeze(UnsqueezeConfig),
    Slice {
        starts: SliceInput,
        ends: SliceInput,
        axes: Option<SliceInput>,
    },
    Identity,
}

impl Op {
    /// The variant's name, for the op profile.
    fn kind(&self) -> &'static str {
        match self {
            Op::Conv { .. } => "Conv",
            Op::GroupedConv { .. } => "GroupedConv",
            Op::ConvCpu { .. } => "ConvCpu",
            Op::Relu => "Relu",
            Op::Sigmoid => "Sigmoid",
            Op::PRelu(_) => "PRelu",
            Op::Add => "Add",
            Op::Affine { .. } => "Affine",
            Op::Flatten(_) => "Flatten",
            Op::Linear { .. } => "Linear",
            Op::Reshape(_) => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::ResizeNearest { .. } => "ResizeNearest",
            Op::Concat(_) => "Concat",
            Op::Shape(..) => "Shape",
            Op::Gather(_) => "Gather",
            Op::Unsqueeze(_) => "Unsqueeze",
            Op::Slice { .. } => "Slice",
            Op::Identity => "Identity",
        }
    }
}

#[derive(Debug)]
struct Step {
    name: String,
    op: Op,
    /// Names of runtime inputs (weights are folded into `op`).
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// Values no later step reads: dropped after this step to free memory.
    frees: Vec<String>,
}

/// A parsed ONNX graph with its weights uploaded to a device.
#[derive(Debug)]
pub struct Graph {
    steps: Vec<Step>,
    consts: HashMap<String, Value>,
    input: String,
    outputs: Vec<String>,
    device: Device,
    /// Dead convolution inputs, reused for later convolution outputs.
    buffers: BufferPool,
}

fn unsupported(op: &str, detail: impl Into<String>) -> GraphError {
    GraphError::Unsupported {
        op: op.to_owned(),
        detail: detail.into(),
    }
}

/// Reads a constant argument as f32 values with its shape.
fn const_f32(arg: &Argument, op: &str) -> Result<(Vec<f32>, Vec<usize>), GraphError> {
    let data = arg
        .value()
        .ok_or_else(|| unsupported(op, format!("input `{}` must be a constant", arg.name)))?;
    let shape = data.shape().as_slice().to_vec();
    let data = data
        .try_cast(DType::F32)
        .map_err(|e| unsupported(op, format!("constant `{}`: {e:?}", arg.name)))?;
    let values = data
        .as_slice::<f32>()
        .map_err(|e| unsupported(op, format!("constant `{}`: {e:?}", arg.name)))?
        .to_vec();
    Ok((values, shape))
}

fn value_of_const(data: &TensorData, device: &Device) -> Result<Value, GraphError> {
    let shape = data.shape().as_slice().to_vec();
    if data.num_elements() == 0 {
        // Empty placeholders (e.g. Resize's unused `roi`/`scales`).
        return Ok(Value::I {
            data: Vec::new(),
            shape,
        });
    }
    match data.dtype() {
        DType::I64 | DType::I32 | DType::I16 | DType::I8 | DType::U8 | DType::Bool(_) => {
            let cast = data
                .clone()
                .try_cast(DType::I64)
                .map_err(|e| unsupported("Constant", format!("{e:?}")))?;
            let values = cast
                .as_slice::<i64>()
                .map_err(|e| unsupported("Constant", format!("{e:?}")))?
                .to_vec();
            Ok(Value::I {
                data: values,
                shape,
            })
        }
        _ => {
            if shape.len() > 4 {
                return Err(unsupported("Constant", "float constant of rank > 4"));
            }
            let cast = data
                .clone()
                .try_cast(DType::F32)
                .map_err(|e| unsupported("Constant", format!("{e:?}")))?;
            let values = cast
                .as_slice::<f32>()
                .map_err(|e| unsupported("Constant", format!("{e:?}")))?
                .to_vec();
            let t = Tensor::<4>::from_data(TensorData::new(values, pad4(&shape)), device);
            Ok(Value::F(Ft::new(t, shape)))
        }
    }
}

/// Input channels per group up to which a grouped convolution runs as
/// gathered depthwise ones ([`Op::GroupedConv`]).
const MAX_GATHERED_CHANNELS: usize = 4;

/// The depthwise parts of a grouped convolution with weight `w` of shape
/// `[out, k, kh, kw]` in `groups` groups: for each `j < k`, output channel
/// `o` reads input channel `(o / (out / groups)) * k + j` with the weights
/// `w[o, j]`.
fn depthwise_parts(
    w: &[f32],
    wshape: &[usize],
    groups: usize,
    device: &Device,
) -> Vec<(Tensor<1, Int>, Tensor<4>)> {
    let (out, k, kh, kw) = (wshape[0], wshape[1], wshape[2], wshape[3]);
    let out_per_group = out / groups;
    let plane = kh * kw;
    (0..k)
        .map(|j| {
            let channels: Vec<i64> = (0..out)
                .map(|o| ((o / out_per_group) * k + j) as i64)
                .collect();
            let weights: Vec<f32> = (0..out)
                .flat_map(|o| {
                    let start = (o * k + j) * plane;
                    w[start..start + plane].iter().copied()
                })
                .collect();
            (
                Tensor::<1, Int>::from_data(TensorData::new(channels, [out]), device),
                Tensor::<4>::from_data(TensorData::new(weights, [out, 1, kh, kw]), device),
            )
        })
        .collect()
}

/// Merges CPU convolutions that read the same input with the same geometry
/// into the first of them, which then writes all their outputs: the input
/// is unrolled once, and one matrix product with more rows runs faster
/// than several thin ones (SCRFD's three 3×3 heads per stride: 2, 8 and 20
/// outputs over 64 channels).
fn merge_sibling_convs(steps: &mut Vec<Step>) {
    let mut i = 0;
    while i < steps.len() {
        let mut j = i + 1;
        while j < steps.len() {
            let mergeable = match (&steps[i].op, &steps[j].op) {
                (Op::ConvCpu { conv: a, .. }, Op::ConvCpu { conv: b, .. }) => {
                    steps[i].inputs == steps[j].inputs && a.same_geometry(b)
                }
                _ => false,
            };
            if !mergeable {
                j += 1;
                continue;
            }
            let other = steps.remove(j);
            let (
                Op::ConvCpu {
                    conv: b,
                    channels: cb,
                },
                Op::ConvCpu {
                    conv: a,
                    channels: ca,
                },
            ) = (other.op, &mut steps[i].op)
            else {
                continue;
            };
            a.append(&b);
            ca.extend(cb);
            steps[i].outputs.extend(other.outputs);
        }
        i += 1;
    }
}

/// Fuses an activation that reads `input` into the CPU convolution that
/// produced it (the step just before, whose output only the activation
/// reads): the convolution then writes the activation's output `outs`.
fn fuse_into_conv(
    steps: &mut [Step],
    input: &str,
    outs: &[String],
    sole_reader: bool,
    activation: impl FnOnce() -> Activation,
) -> bool {
    let Some(step) = steps.last_mut() else {
        return false;
    };
    let Op::ConvCpu { conv, .. } = &mut step.op else {
        return false;
    };
    if !sole_reader || outs.len() != 1 || step.outputs != [input] || !conv.fuse(activation()) {
        return false;
    }
    step.outputs = outs.to_vec();
    true
}

fn tensor1(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::<1>::from_data(TensorData::new(values, [n]), device)
}

impl Graph {
    /// Parses ONNX bytes and uploads the weights to `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, GraphError> {
        let graph = onnx_ir::OnnxGraphBuilder::new()
            .parse_bytes(bytes)
            .map_err(|e| GraphError::Parse(e.to_string()))?;
        Self::build(&graph, device)
    }

    #[allow(clippy::many_single_char_names)]
    fn build(graph: &OnnxGraph, device: &Device) -> Result<Self, GraphError> {
        let input = graph
            .inputs
            .first()
            .ok_or_else(|| GraphError::Parse("graph has no input".into()))?
            .name
            .clone();
        let outputs: Vec<String> = graph.outputs.iter().map(|o| o.name.clone()).collect();
        let mut steps = Vec::new();
        let mut consts = HashMap::new();
        let mut produced: std::collections::HashSet<String> = std::collections::HashSet::new();
        produced.insert(input.clone());
        let on_cpu = *device == Device::flex();
        // How many nodes read each value: an activation is fused into the
        // convolution before it only when it is that output's one reader.
        let mut readers: HashMap<&str, usize> = HashMap::new();
        for node in &graph.nodes {
            for arg in node.inputs() {
                *readers.entry(arg.name.as_str()).or_default() += 1;
            }
        }
        let sole_reader =
            |name: &str| readers.get(name) == Some(&1) && !outputs.iter().any(|o| o == name);

        for node in &graph.nodes {
            let name = node.name().to_owned();
            let ins = node.inputs();
            let outs: Vec<String> = node.outputs().iter().map(|o| o.name.clone()).collect();
            // Runtime input names of the first `n` inputs; constants among them are recorded.
            let runtime = |n: usize,
                           consts: &mut HashMap<String, Value>|
             -> Result<Vec<String>, GraphError> {
                let mut names = Vec::new();
                for (i, arg) in ins.iter().take(n).enumerate() {
                    // Constants embedded in the node have no name: give them one.
                    let key = if arg.name.is_empty() {
                        format!("{name}#const{i}")
                    } else {
                        arg.name.clone()
                    };
                    if !produced.contains(&key) && !consts.contains_key(&key) {
                        match arg.value() {
                            Some(data) => {
                                consts.insert(key.clone(), value_of_const(&data, device)?);
                            }
                            None if arg.name.is_empty() => continue,
                            None => {}
                        }
                    }
                    names.push(key);
                }
                Ok(names)
            };
            let (op, inputs) = match node {
                Node::Constant(_) => {
                    for out in node.outputs() {
                        if let Some(data) = out.value() {
                            consts.insert(out.name.clone(), value_of_const(&data, device)?);
                        }
                    }
                    continue;
                }
                Node::Conv2d(conv) => {
                    let c = &conv.config;
                    let (w, wshape) = const_f32(&ins[1], "Conv")?;
                    if wshape.len() != 4 {
                        return Err(unsupported("Conv", "weight must be rank 4"));
                    }
                    let bias = match ins.get(2) {
                        Some(b) if !b.name.is_empty() || b.value().is_some() => {
                            Some(const_f32(b, "Conv")?.0)
                        }
                        _ => None,
                    };
                    let (top, left, bottom, right) = match &c.padding {
                        PaddingConfig2d::Valid => (0, 0, 0, 0),
                        PaddingConfig2d::Explicit(t, l, b, r) => (*t, *l, *b, *r),
                    };
                    let padding = [(top, bottom), (left, right)];
                    let op = if on_cpu && c.dilation == [1, 1] {
                        let conv = ConvCpu::new(
                            w,
                            [wshape[0], wshape[1], wshape[2], wshape[3]],
                            bias,
                            c.stride,
                            [top, left, bottom, right],
                            c.groups,
                        )
                        .map_err(|e| unsupported("Conv", e.to_string()))?;
                        Op::ConvCpu {
                            channels: vec![wshape[0]],
                            conv: Box::new(conv),
                        }
                    } else if c.groups > 1
                        && (2..=MAX_GATHERED_CHANNELS).contains(&wshape[1])
                        && wshape[0] % c.groups == 0
                    {
                        Op::GroupedConv {
                            parts: depthwise_parts(&w, &wshape, c.groups, device),
                            bias: bias.map(|b| tensor1(b, device)),
                            options: ConvOptions::new_with_padding(
                                c.stride, padding, c.dilation, wshape[0],
                            ),
                        }
                    } else {
                        let weight = Tensor::<4>::from_data(
                            TensorData::new(w, [wshape[0], wshape[1], wshape[2], wshape[3]]),
                            device,
                        );
                        Op::Conv {
                            weight,
                            bias: bias.map(|b| tensor1(b, device)),
                            options: ConvOptions::new_with_padding(
                                c.stride, padding, c.dilation, c.groups,
                            ),
                        }
                    };
                    (op, runtime(1, &mut consts)?)
                }
                Node::Relu(_) => {
                    let sole = sole_reader(&ins[0].name);
                    if fuse_into_conv(&mut steps, &ins[0].name, &outs, sole, || Activation::Relu) {
                        produced.extend(outs);
                        continue;
                    }
                    (Op::Relu, runtime(1, &mut consts)?)
                }
                Node::Sigmoid(_) => (Op::Sigmoid, runtime(1, &mut consts)?),
                Node::PRelu(_) => {
                    let (alpha, _) = const_f32(&ins[1], "PRelu")?;
                    let sole = sole_reader(&ins[0].name);
                    if fuse_into_conv(&mut steps, &ins[0].name, &outs, sole, || {
                        Activation::PRelu(alpha.clone())
                    }) {
                        produced.extend(outs);
                        continue;
                    }
                    (Op::PRelu(tensor1(alpha, device)), runtime(1, &mut consts)?)
                }
                Node::Add(_) => (Op::Add, runtime(2, &mut consts)?),
                Node::BatchNormalization(bn) => {
                    let eps = match &bn.config {
                        onnx_ir::node::batch_norm::BatchNormConfig::Static(s) => s.epsilon,
                        onnx_ir::node::batch_norm::BatchNormConfig::Runtime(r) => r.epsilon,
                    };
                    let gamma = const_f32(&ins[1], "BatchNormalization")?.0;
                    let beta = const_f32(&ins[2], "BatchNormalization")?.0;
                    let mean = const_f32(&ins[3], "BatchNormalization")?.0;
                    let var = const_f32(&ins[4], "BatchNormalization")?.0;
                    let mut scale = Vec::with_capacity(gamma.len());
                    let mut shift = Vec::with_capacity(gamma.len());
                    for i in 0..gamma.len() {
                        let s = f64::from(gamma[i]) / (f64::from(var[i]) + eps).sqrt();
                        scale.push(s as f32);
                        shift.push((f64::from(beta[i]) - f64::from(mean[i]) * s) as f32);
                    }
                    (
                        Op::Affine {
                            scale: tensor1(scale, device),
                            shift: tensor1(shift, device),
                        },
                        runtime(1, &mut consts)?,
                    )
                }
                Node::Flatten(f) => (Op::Flatten(f.config.axis), runtime(1, &mut consts)?),
                Node::Linear(l) => {
                    let (w, wshape) = const_f32(&ins[1], "Linear")?;
                    if wshape.len() != 2 {
                        return Err(unsupported("Linear", "weight must be rank 2"));
                    }
                    let mut weight =
                        Tensor::<2>::from_data(TensorData::new(w, [wshape[0], wshape[1]]), device);
                    if l.config.transpose_weight {
                        weight = weight.transpose();
                    }
                    let bias = match ins.get(2) {
                        Some(b) if b.value().is_some() => {
                            Some(tensor1(const_f32(b, "Linear")?.0, device))
                        }
                        _ => None,
                    };
                    (Op::Linear { weight, bias }, runtime(1, &mut consts)?)
                }
                Node::Reshape(r) => (
                    Op::Reshape(r.config.shape.clone()),
                    runtime(ins.len(), &mut consts)?,
                ),
                Node::Transpose(t) => {
                    let perm = t
                        .config
                        .perm
                        .iter()
                        .map(|&p| {
                            usize::try_from(p)
                                .map_err(|_| unsupported("Transpose", "negative axis"))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    (Op::Transpose(perm), runtime(1, &mut consts)?)
                }
                Node::Resize(r) => {
                    if !matches!(r.config.mode, ResizeMode::Nearest) {
                        return Err(unsupported("Resize", "only nearest mode"));
                    }
                    (
                        Op::ResizeNearest {
                            sizes: r.config.sizes.clone(),
                            scales: r.config.scales.clone(),
                        },
                        runtime(ins.len(), &mut consts)?,
                    )
                }
                Node::Concat(c) => (Op::Concat(c.config.axis), runtime(ins.len(), &mut consts)?),
                Node::Shape(s) => (
                    Op::Shape(s.config.start, s.config.end),
                    runtime(1, &mut consts)?,
                ),
                Node::Gather(g) => (Op::Gather(g.config.axis), runtime(2, &mut consts)?),
                Node::Unsqueeze(u) => (
                    Op::Unsqueeze(u.config.clone()),
                    runtime(ins.len(), &mut consts)?,
                ),
                Node::Slice(s) => (
                    Op::Slice {
                        starts: s.config.starts.clone(),
                        ends: s.config.ends.clone(),
                        axes: s.config.axes.clone(),
                    },
                    runtime(ins.len(), &mut consts)?,
                ),
                Node::Cast(_) | Node::Identity(_) => (Op::Identity, runtime(1, &mut consts)?),
                other => {
                    return Err(unsupported(
                        &other.node_type().to_string(),
                        "not implemented",
                    ));
                }
            };
            for o in &outs {
                produced.insert(o.clone());
            }
            steps.push(Step {
                name,
                op,
                inputs,
                outputs: outs,
                frees: Vec::new(),
            });
        }

        merge_sibling_convs(&mut steps);

        // Liveness: free each runtime value after its last reader.
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            for n in &s.inputs {
                last_use.insert(n.as_str(), i);
            }
        }
        let frees: Vec<(usize, String)> = last_use
            .iter()
            .filter(|(n, _)| !consts.contains_key(**n) && !outputs.iter().any(|o| o == *n))
            .map(|(n, i)| (*i, (*n).to_owned()))
            .collect();
        for (i, n) in frees {
            steps[i].frees.push(n);
        }

        Ok(Self {
            steps,
            consts,
            input,
            outputs,
            device: device.clone(),
            buffers: BufferPool::default(),
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the graph on an `[N, C, H, W]` input; returns the graph outputs in
    /// declaration order.
    pub fn run(&self, input: Tensor<4>) -> Result<Vec<Ft>, GraphError> {
        let mut env: HashMap<String, Value> = HashMap::new();
        let dims = input.dims().to_vec();
        env.insert(self.input.clone(), Value::F(Ft::new(input, dims)));
        let profile = std::env::var_os("LIKENESS_PROFILE_OPS").is_some();
        for step in &self.steps {
            let t = std::time::Instant::now();
            let outs = if let Op::ConvCpu { conv, channels } = &step.op {
                self.conv_cpu(conv, channels, step, &mut env)?
            } else {
                let owned = take_last_use(step, &mut env);
                self.exec(step, &env, owned)?
            };
            if profile {
                profile_op(step, &outs, t);
            }
            for (name, v) in step.outputs.iter().zip(outs) {
                env.insert(name.clone(), v);
            }
            for n in &step.frees {
                env.remove(n);
            }
        }
        self.outputs
            .iter()
            .map(|name| match env.remove(name) {
                Some(Value::F(f)) => Ok(f),
                Some(Value::I { .. }) => Err(GraphError::Shape {
                    node: name.clone(),
                    detail: "graph output is an integer value".into(),
                }),
                None => Err(GraphError::Missing(name.clone())),
            })
            .collect()
    }

    /// Runs a [`Op::ConvCpu`] step. Its input is moved out of `env` so that
    /// burn hands over its buffer without a copy, and put back unless this
    /// step is its last reader.
    fn conv_cpu(
        &self,
        conv: &ConvCpu,
        channels: &[usize],
        step: &Step,
        env: &mut HashMap<String, Value>,
    ) -> Result<Vec<Value>, GraphError> {
        let name = step
            .inputs
            .first()
            .ok_or_else(|| shape_err(step, "convolution without input"))?;
        let input = match env.remove(name) {
            Some(Value::F(f)) => f,
            Some(other) => {
                env.insert(name.clone(), other);
                return Err(shape_err(step, "expected a float tensor"));
            }
            None => self.float(env, step, 0)?,
        };
        let Ok(dims) = <[usize; 4]>::try_from(&input.shape[..]) else {
            return Err(shape_err(step, "conv input must be rank 4"));
        };
        let data = input.t.into_data();
        let values = data
            .as_slice::<f32>()
            .map_err(|e| shape_err(step, format!("conv input: {e:?}")))?;
        let (out, shape) = conv
            .run_with(values, dims, &self.buffers)
            .map_err(|e| shape_err(step, e.to_string()))?;
        if step.frees.contains(name) {
            // Dead now: its buffer serves a later output.
            if let Ok(buffer) = data.try_into_vec::<f32>() {
                self.buffers.give(buffer);
            }
        } else {
            let t = Tensor::<4>::from_data(data, &self.device);
            env.insert(name.clone(), Value::F(Ft::new(t, dims.to_vec())));
        }
        let value = |data: Vec<f32>, shape: [usize; 4]| {
            let y = Tensor::<4>::from_data(TensorData::new(data, shape), &self.device);
            Value::F(Ft::new(y, shape.to_vec()))
        };
        if let [_] = channels {
            return Ok(vec![value(out, shape)]);
        }
        Ok(split_channels(&out, shape, channels)
            .into_iter()
            .map(|(data, shape)| value(data, shape))
            .collect())
    }

    fn get<'a>(
        &'a self,
        env: &'a HashMap<String, Value>,
        name: &str,
    ) -> Result<&'a Value, GraphError> {
        env.get(name)
            .or_else(|| self.consts.get(name))
            .ok_or_else(|| GraphError::Missing(name.to_owned()))
    }

    fn float(&self, env: &HashMap<String, Value>, step: &Step, i: usize) -> Result<Ft, GraphError> {
        let name = step
            .inputs
            .get(i)
            .ok_or_else(|| GraphError::Missing(format!("{} input {i}", step.name)))?;
        match self.get(env, name)? {
            Value::F(f) => Ok(f.clone()),
            Value::I { .. } => Err(shape_err(step, "expected a float tensor")),
        }
    }

    /// Integer values of the input with ONNX index `index` (looked up by name).
    fn ints_named(
        &self,
        env: &HashMap<String, Value>,
        step: &Step,
        name: &str,
    ) -> Result<Vec<i64>, GraphError> {
        match self.get(env, name)? {
            Value::I { data, .. } => Ok(data.clone()),
            Value::F(_) => Err(shape_err(step, "expected integers")),
        }
    }

    fn slice_input(
        &self,
        env: &HashMap<String, Value>,
        step: &Step,
        s: &SliceInput,
    ) -> Result<Vec<i64>, GraphError> {
        match s {
            SliceInput::Static(v) => Ok(v.clone()),
            SliceInput::Runtime(r) => self.ints_named(env, step, &ref_name(step, r)),
        }
    }

    #[allow(clippy::too_many_lines, clippy::many_single_char_names)]
    /// Runs one step. `owned` is its first input when this step is its last
    /// reader (see [`take_last_use`]): element-wise ops then write in place.
    fn exec(
        &self,
        step: &Step,
        env: &HashMap<String, Value>,
        owned: Option<Ft>,
    ) -> Result<Vec<Value>, GraphError> {
        let first = |owned: Option<Ft>| owned.map_or_else(|| self.float(env, step, 0), Ok);
        let out = match &step.op {
            Op::Conv {
                weight,
                bias,
                options,
            } => {
                let x = self.float(env, step, 0)?;
                if x.rank() != 4 {
                    return Err(shape_err(step, "conv input must be rank 4"));
                }
                let y = module::conv2d(x.t, weight.clone(), bias.clone(), options.clone());
                let s = y.dims().to_vec();
                Value::F(Ft::new(y, s))
            }
            Op::GroupedConv {
                parts,
                bias,
                options,
            } => {
                let x = self.float(env, step, 0)?;
                if x.rank() != 4 {
                    return Err(shape_err(step, "conv input must be rank 4"));
                }
                let mut sum: Option<Tensor<4>> = None;
                for (i, (channels, weight)) in parts.iter().enumerate() {
                    let gathered = x.t.clone().select(1, channels.clone());
                    // The bias is added once, with the first part.
                    let b = if i == 0 { bias.clone() } else { None };
                    let y = module::conv2d(gathered, weight.clone(), b, options.clone());
                    sum = Some(match sum {
                        Some(s) => s + y,
                        None => y,
                    });
                }
                let y = sum.ok_or_else(|| shape_err(step, "grouped conv without parts"))?;
                let s = y.dims().to_vec();
                Value::F(Ft::new(y, s))
            }
            Op::ConvCpu { .. } => {
                return Err(shape_err(step, "CPU convolutions run in `conv_cpu`"));
            }
            Op::Relu => {
                let x = first(owned)?;
                Value::F(Ft::new(activation::relu(x.t), x.shape))
            }
            Op::Sigmoid => {
                let x = first(owned)?;
                Value::F(Ft::new(activation::sigmoid(x.t), x.shape))
            }
            Op::PRelu(alpha) => {
                let x = first(owned)?;
                if x.rank() < 2 {
                    return Err(shape_err(step, "prelu input rank < 2"));
                }
                let c = x.shape[1];
                let y = if alpha.dims()[0] == c && x.rank() == 4 {
                    activation::prelu(x.t, alpha.clone())
                } else {
                    let mut bshape = vec![1usize; x.rank()];
                    bshape[1] = alpha.dims()[0];
                    let a = alpha.clone().reshape(pad4(&bshape));
                    let pos = x.t.clone().clamp_min(0.0);
                    let neg = x.t.clamp_max(0.0);
                    pos + neg * a
                };
                Value::F(Ft::new(y, x.shape))
            }
            Op::Add => {
                let a = self.get(env, &step.inputs[0])?;
                let b = self.get(env, step.inputs.get(1).map_or("", String::as_str))?;
                match (a, b) {
                    (Value::F(a), Value::F(b)) => {
                        let rank = a.rank().max(b.rank());
                        let shape = broadcast_shape(&a.shape, &b.shape)
                            .ok_or_else(|| shape_err(step, "add shapes do not broadcast"))?;
                        debug_assert_eq!(shape.len(), rank);
                        Value::F(Ft::new(a.t.clone() + b.t.clone(), shape))
                    }
                    (Value::I { data: a, shape }, Value::I { data: b, .. })
                        if a.len() == b.len() =>
                    {
                        Value::I {
                            data: a.iter().zip(b).map(|(x, y)| x + y).collect(),
                            shape: shape.clone(),
                        }
                    }
                    _ => return Err(shape_err(step, "mixed add")),
                }
            }
            Op::Affine { scale, shift } => {
                let x = self.float(env, step, 0)?;
                if x.rank() < 2 {
                    return Err(shape_err(step, "batch norm input rank < 2"));
                }
                let mut bshape = vec![1usize; x.rank()];
                bshape[1] = x.shape[1];
                let s = scale.clone().reshape(pad4(&bshape));
                let b = shift.clone().reshape(pad4(&bshape));
                Value::F(Ft::new(x.t * s + b, x.shape))
            }
            Op::Flatten(axis) => {
                let x = self.float(env, step, 0)?;
                let a: usize = x.shape[..*axis].iter().product();
                let b: usize = x.shape[*axis..].iter().product();
                Value::F(x.reshape(vec![a, b]))
            }
            Op::Linear { weight, bias } => {
                let x = self.float(env, step, 0)?;
                let mut shape = x.shape.clone();
                let last = shape.len() - 1;
                if shape[last] != weight.dims()[0] {
                    return Err(shape_err(step, "linear input width mismatch"));
                }
                shape[last] = weight.dims()[1];
                let y = module::linear(x.t, weight.clone(), bias.clone());
                Value::F(Ft::new(y, shape))
            }
            Op::Reshape(target) => {
                let x = self.float(env, step, 0)?;
                let spec = match target {
                    ReshapeInput::Static(v) => v.clone(),
                    ReshapeInput::Runtime(r) => self.ints_named(env, step, &ref_name(step, r))?,
                };
                let shape = resolve_reshape(&x.shape, &spec).ok_or_else(|| {
                    shape_err(step, format!("cannot reshape {:?} to {spec:?}", x.shape))
                })?;
                if shape.len() > 4 {
                    return Err(shape_err(step, "rank > 4"));
                }
                Value::F(x.reshape(shape))
            }
            Op::Transpose(perm) => {
                let x = self.float(env, step, 0)?;
                let r = x.rank();
                if perm.len() != r {
                    return Err(shape_err(step, "transpose perm rank"));
                }
                let off = 4 - r;
                let mut p = [0usize, 1, 2, 3];
                for (i, &axis) in perm.iter().enumerate() {
                    p[off + i] = off + axis;
                }
                let shape = perm.iter().map(|&a| x.shape[a]).collect();
                Value::F(Ft::new(x.t.permute(p), shape))
            }
            Op::ResizeNearest { sizes, scales } => {
                let x = self.float(env, step, 0)?;
                if x.rank() != 4 {
                    return Err(shape_err(step, "resize input must be rank 4"));
                }
                let out: Vec<usize> = match (sizes, scales) {
                    (Some(ResizeSizes::Static(s)), _) if s.len() == 4 => s.clone(),
                    (Some(ResizeSizes::Runtime(r)), _) => self
                        .ints_named(env, step, &ref_name(step, r))?
                        .iter()
                        .map(|&v| usize::try_from(v).unwrap_or(0))
                        .collect(),
                    (_, Some(ResizeScales::Static(s))) if s.len() == 4 => x
                        .shape
                        .iter()
                        .zip(s)
                        .map(|(&d, &f)| (d as f32 * f).floor() as usize)
                        .collect(),
                    _ => return Err(shape_err(step, "resize needs static scales or sizes")),
                };
                if out.len() != 4
                    || out[0] != x.shape[0]
                    || out[1] != x.shape[1]
                    || out[2] == 0
                    || out[3] == 0
                {
                    return Err(shape_err(step, format!("resize to {out:?}")));
                }
                let [n, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
                let y = if out[2] == 2 * h && out[3] == 2 * w {
                    // Exact 2x nearest (asymmetric, floor): repeat each pixel.
                    x.t.reshape([n * c * h, 1, w, 1])
                        .expand([n * c * h, 2, w, 2])
                        .reshape([n, c, 2 * h, 2 * w])
                } else {
                    module::interpolate(
                        x.t,
                        InterpolateOptions::new(InterpolateMode::Nearest)
                            .with_align_corners(false)
                            .with_output_size([out[2], out[3]]),
                    )
                };
                Value::F(Ft::new(y, out))
            }
            Op::Concat(axis) => {
                let vals: Vec<&Value> = step
                    .inputs
                    .iter()
                    .map(|n| self.get(env, n))
                    .collect::<Result<_, _>>()?;
                if vals.iter().all(|v| matches!(v, Value::I { .. })) {
                    let mut data = Vec::new();
                    for v in &vals {
                        if let Value::I { data: d, .. } = v {
                            data.extend_from_slice(d);
                        }
                    }
                    let n = data.len();
                    Value::I {
                        data,
                        shape: vec![n],
                    }
                } else {
                    let mut ts = Vec::new();
                    let mut shape: Option<Vec<usize>> = None;
                    for v in vals {
                        let Value::F(f) = v else {
                            return Err(shape_err(step, "mixed concat"));
                        };
                        match &mut shape {
                            None => shape = Some(f.shape.clone()),
                            Some(s) => s[*axis] += f.shape[*axis],
                        }
                        ts.push(f.t.clone());
                    }
                    let shape = shape.ok_or_else(|| shape_err(step, "empty concat"))?;
                    let phys = 4 - shape.len() + axis;
                    Value::F(Ft::new(Tensor::cat(ts, phys), shape))
                }
            }
            Op::Shape(start, end) => {
                let x = self.float(env, step, 0)?;
                let end = (*end).min(x.rank());
                let data: Vec<i64> = x.shape[(*start).min(end)..end]
                    .iter()
                    .map(|&d| d as i64)
                    .collect();
                let n = data.len();
                Value::I {
                    data,
                    shape: vec![n],
                }
            }
            Op::Gather(axis) => {
                let data = self.ints_named(env, step, &step.inputs[0])?;
                let (idx, idx_shape) =
                    match self.get(env, step.inputs.get(1).map_or("", String::as_str))? {
                        Value::I { data, shape } => (data.clone(), shape.clone()),
                        Value::F(_) => return Err(shape_err(step, "float gather index")),
                    };
                if *axis != 0 {
                    return Err(shape_err(step, "gather on integers needs axis 0"));
                }
                let n = data.len() as i64;
                let mut out = Vec::with_capacity(idx.len());
                for i in idx {
                    let j = if i < 0 { i.saturating_add(n) } else { i };
                    let v = usize::try_from(j)
                        .ok()
                        .and_then(|j| data.get(j))
                        .ok_or_else(|| shape_err(step, "gather index out of range"))?;
                    out.push(*v);
                }
                Value::I {
                    data: out,
                    shape: idx_shape,
                }
            }
            Op::Unsqueeze(cfg) => match self.get(env, &step.inputs[0])? {
                Value::I { data, shape } => {
                    let axes = match cfg {
                        UnsqueezeConfig::Static(a) => a.clone(),
                        UnsqueezeConfig::Runtime(r) => {
                            self.ints_named(env, step, &ref_name(step, r))?
                        }
                    };
                    let mut shape = shape.clone();
                    for _ in axes {
                        shape.insert(0, 1);
                    }
                    Value::I {
                        data: data.clone(),
                        shape,
                    }
                }
                Value::F(f) => {
                    let axes = match cfg {
                        UnsqueezeConfig::Static(a) => a.clone(),
                        UnsqueezeConfig::Runtime(r) => {
                            self.ints_named(env, step, &ref_name(step, r))?
                        }
                    };
                    let mut shape = f.shape.clone();
                    let mut axes: Vec<usize> = axes
                        .iter()
                        .map(|&a| {
                            let r = (shape.len() + axes.len()) as i64;
                            usize::try_from(if a < 0 { a + r } else { a }).unwrap_or(0)
                        })
                        .collect();
                    axes.sort_unstable();
                    for a in axes {
                        shape.insert(a.min(shape.len()), 1);
                    }
                    if shape.len() > 4 {
                        return Err(shape_err(step, "rank > 4"));
                    }
                    Value::F(f.clone().reshape(shape))
                }
            },
            Op::Slice { starts, ends, axes } => {
                let data = self.ints_named(env, step, &step.inputs[0])?;
                let starts = self.slice_input(env, step, starts)?;
                let ends = self.slice_input(env, step, ends)?;
                if let Some(a) = axes {
                    let a = self.slice_input(env, step, a)?;
                    if a.iter().any(|&x| x != 0 && x != -1) {
                        return Err(shape_err(step, "slice on integers needs axis 0"));
                    }
                }
                let n = data.len() as i64;
                let clamp = |v: i64| -> usize {
                    let v = if v < 0 { v.saturating_add(n) } else { v };
                    usize::try_from(v.clamp(0, n)).unwrap_or(0)
                };
                let s = clamp(*starts.first().unwrap_or(&0));
                let e = clamp(*ends.first().unwrap_or(&n));
                let out: Vec<i64> = if s < e {
                    data[s..e].to_vec()
                } else {
                    Vec::new()
                };
                let len = out.len();
                Value::I {
                    data: out,
                    shape: vec![len],
                }
            }
            Op::Identity => self.get(env, &step.inputs[0])?.clone(),
        };
        Ok(vec![out])
    }
}

/// With `LIKENESS_PROFILE_OPS` set: waits for each op and prints its time
/// to stderr (a debugging aid; the backend may otherwise run ops lazily).
/// Moves an element-wise step's input out of `env` when this step is its
/// last reader, so the op owns the only reference and burn's backend can
/// write the result into the same buffer instead of allocating (and
/// page-faulting) a new one: the detector applies `ReLU` to tens of megabytes
/// per batch after nearly every convolution.
fn take_last_use(step: &Step, env: &mut HashMap<String, Value>) -> Option<Ft> {
    if !matches!(step.op, Op::Relu | Op::Sigmoid | Op::PRelu(_)) {
        return None;
    }
    let name = step.inputs.first()?;
    if !step.frees.contains(name) {
        return None;
    }
    match env.remove(name)? {
        Value::F(f) => Some(f),
        other @ Value::I { .. } => {
            env.insert(name.clone(), other);
            None
        }
    }
}

fn profile_op(step: &Step, outs: &[Value], t: std::time::Instant) {
    if let Some(Value::F(f)) = outs.first() {
        let _ = f.t.clone().slice([0..1, 0..1, 0..1, 0..1]).into_data();
    }
    // Read before anything is formatted: formatting an op's weights once
    // took ten times as long as the op (6 ms for a 256×256 convolution).
    let duration_ms = t.elapsed().as_secs_f64() * 1000.0;
    let kind = step.op.kind();
    let detail = match (&step.op, outs.first()) {
        (
            Op::Conv {
                weight, options, ..
            },
            Some(Value::F(f)),
        ) => format!(
            " out {:?} weight {:?} stride {:?} groups {}",
            f.shape,
            weight.dims(),
            options.stride,
            options.groups
        ),
        (Op::ConvCpu { conv, .. }, Some(Value::F(f))) => {
            format!(" out {:?} {}", f.shape, conv.summary())
        }
        _ => String::new(),
    };
    eprintln!("op {kind} {} {duration_ms:.3} ms{detail}", step.name);
}

/// The value name a config's runtime reference points at (embedded
/// constants are stored under a name derived from the node).
fn ref_name(step: &Step, r: &onnx_ir::ir::RuntimeInputRef) -> String {
    if r.name.is_empty() {
        format!("{}#const{}", step.name, r.input_index)
    } else {
        r.name.clone()
    }
}

fn shape_err(step: &Step, detail: impl Into<String>) -> GraphError {
    GraphError::Shape {
        node: step.name.clone(),
        detail: detail.into(),
    }
}

fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// ONNX reshape semantics: `0` copies the input dimension, `-1` is inferred.
fn resolve_reshape(input: &[usize], spec: &[i64]) -> Option<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            0 => out.push(*input.get(i)?),
            -1 => {
                if infer.is_some() {
                    return None;
                }
                infer = Some(i);
                out.push(1);
            }
            s if s > 0 => out.push(usize::try_from(s).ok()?),
            _ => return None,
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return None;
        }
        out[i] = total / known;
    } else if known != total {
        return None;
    }
    Some(out)
}

/// Reads float tensors back to the CPU in one transaction.
pub(crate) fn read_all(tensors: Vec<Tensor<4>>) -> Result<Vec<Vec<f32>>, GraphError> {
    let mut tx = burn::tensor::Transaction::default();
    for t in tensors {
        tx = tx.register(t);
    }
    let datas = tx
        .try_execute()
        .map_err(|e| GraphError::Device(format!("{e:?}")))?;
    datas
        .into_iter()
        .map(|d| {
            let d = d
                .try_cast(DType::F32)
                .map_err(|e| GraphError::Device(format!("{e:?}")))?;
            d.as_slice::<f32>()
                .map(<[f32]>::to_vec)
                .map_err(|e| GraphError::Device(format!("{e:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reshape_rules() {
        assert_eq!(
            resolve_reshape(&[1, 4, 2, 3], &[1, -1, 1]),
            Some(vec![1, 24, 1])
        );
        assert_eq!(resolve_reshape(&[2, 3], &[0, 3]), Some(vec![2, 3]));
        assert_eq!(resolve_reshape(&[2, 3], &[4, -1]), None);
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shape(&[1, 8, 4, 4], &[1, 8, 4, 4]),
            Some(vec![1, 8, 4, 4])
        );
        assert_eq!(
            broadcast_shape(&[8, 1, 1], &[2, 8, 4, 4]),
            Some(vec![2, 8, 4, 4])
        );
        assert_eq!(broadcast_shape(&[3], &[4]), None);
    }

    /// The gathered depthwise parts of a grouped convolution compute what
    /// the grouped convolution does (2 and 3 input channels per group, 1 and
    /// 2 outputs per group, stride 1 and 2).
    #[test]
    fn grouped_conv_as_depthwise_parts_matches_the_grouped_conv() {
        let device = Device::flex();
        for (groups, k, out_per_group, stride) in [(4, 2, 2, 1), (3, 3, 1, 2), (2, 2, 1, 1)] {
            let (cin, out) = (groups * k, groups * out_per_group);
            let wshape = [out, k, 3, 3];
            let w: Vec<f32> = (0..out * k * 9)
                .map(|i| ((i * 7 % 11) as f32 - 5.0) / 7.0)
                .collect();
            let x_values: Vec<f32> = (0..2 * cin * 6 * 5)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 9.0)
                .collect();
            let x = Tensor::<4>::from_data(TensorData::new(x_values, [2, cin, 6, 5]), &device);
            let bias = tensor1((0..out).map(|i| i as f32 / 10.0).collect(), &device);
            let padding = [(1, 1), (1, 1)];
            let grouped = module::conv2d(
                x.clone(),
                Tensor::<4>::from_data(TensorData::new(w.clone(), wshape), &device),
                Some(bias.clone()),
                ConvOptions::new_with_padding([stride, stride], padding, [1, 1], groups),
            );
            let options = ConvOptions::new_with_padding([stride, stride], padding, [1, 1], out);
            let mut sum: Option<Tensor<4>> = None;
            for (i, (channels, weight)) in depthwise_parts(&w, &wshape, groups, &device)
                .into_iter()
                .enumerate()
            {
                let b = (i == 0).then(|| bias.clone());
                let y = module::conv2d(x.clone().select(1, channels), weight, b, options.clone());
                sum = Some(sum.map_or(y.clone(), |s| s + y));
            }
            let lowered = sum.expect("parts");
            assert_eq!(lowered.dims(), grouped.dims());
            let diff: f32 = (lowered - grouped).abs().max().into_scalar();
            assert!(diff < 1e-5, "groups {groups}, k {k}: max difference {diff}");
        }
    }
}
