//! The legacy PyTorch reader on small files this test writes itself, in the layout of
//! resemblyzer's `pretrained.pt`: magic number, protocol version, system info, a checkpoint
//! dict (step, an `OrderedDict` state dict whose tensors share a storage at offsets and
//! include a transposed view, an optimizer state with tensors and big integers), the sorted
//! storage keys, then each storage's count and little-endian floats.

use tympan_voiceid::ge2e::Ge2eWeights;
use tympan_voiceid::torch_legacy::{
    legacy_checkpoint_to_safetensors, read_legacy_checkpoint, MAGIC_NUMBER,
};

/// A minimal pickle (protocol 2) writer with memo puts and gets.
#[derive(Default)]
struct P {
    b: Vec<u8>,
    memo: u32,
}

impl P {
    fn proto(&mut self) -> &mut Self {
        self.b.extend_from_slice(&[0x80, 2]);
        self
    }
    fn stop(&mut self) -> &mut Self {
        self.b.push(b'.');
        self
    }
    fn put(&mut self) -> u32 {
        let m = self.memo;
        if m < 256 {
            self.b.extend_from_slice(&[b'q', m as u8]);
        } else {
            self.b.push(b'r');
            self.b.extend_from_slice(&m.to_le_bytes());
        }
        self.memo += 1;
        m
    }
    fn get(&mut self, m: u32) -> &mut Self {
        if m < 256 {
            self.b.extend_from_slice(&[b'h', m as u8]);
        } else {
            self.b.push(b'j');
            self.b.extend_from_slice(&m.to_le_bytes());
        }
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.b.push(b'X');
        self.b.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.b.extend_from_slice(s.as_bytes());
        self.put();
        self
    }
    fn int(&mut self, v: i64) -> &mut Self {
        if (0..256).contains(&v) {
            self.b.extend_from_slice(&[b'K', v as u8]);
        } else if (0..65536).contains(&v) {
            self.b.push(b'M');
            self.b.extend_from_slice(&(v as u16).to_le_bytes());
        } else if i32::try_from(v).is_ok() {
            self.b.push(b'J');
            self.b.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.b.extend_from_slice(&[0x8a, 8]);
            self.b.extend_from_slice(&v.to_le_bytes());
        }
        self
    }
    fn float(&mut self, v: f64) -> &mut Self {
        self.b.push(b'G');
        self.b.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn op(&mut self, o: u8) -> &mut Self {
        self.b.push(o);
        self
    }
    fn global(&mut self, module: &str, name: &str) -> u32 {
        self.b.push(b'c');
        self.b
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
        self.put()
    }
}

struct Tensor<'a> {
    key: &'a str,
    numel: usize,
    offset: usize,
    shape: &'a [usize],
    stride: &'a [usize],
}

/// Emits `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` using
/// memoised globals after their first use.
struct Globals {
    rebuild: Option<u32>,
    storage: Option<u32>,
    ordered: u32,
    storage_str: Option<u32>,
}

fn tensor(p: &mut P, g: &mut Globals, t: &Tensor) {
    match g.rebuild {
        Some(m) => {
            p.get(m);
        }
        None => g.rebuild = Some(p.global("torch._utils", "_rebuild_tensor_v2")),
    }
    p.op(b'(').op(b'(');
    match g.storage_str {
        Some(m) => {
            p.get(m);
        }
        None => {
            p.str("storage");
            g.storage_str = Some(p.memo - 1);
        }
    }
    match g.storage {
        Some(m) => {
            p.get(m);
        }
        None => g.storage = Some(p.global("torch", "FloatStorage")),
    }
    p.str(t.key)
        .str("cuda:0")
        .int(t.numel as i64)
        .op(b'N')
        .op(b't');
    p.put();
    p.op(b'Q').int(t.offset as i64);
    p.op(b'(');
    for &s in t.shape {
        p.int(s as i64);
    }
    p.op(b't').op(b'(');
    for &s in t.stride {
        p.int(s as i64);
    }
    p.op(b't')
        .op(0x89)
        .get(g.ordered)
        .op(b')')
        .op(b'R')
        .op(b't');
    p.put();
    p.op(b'R');
    p.put();
}

/// A legacy file: `entries` of the state dict (name, tensor), an optimizer tensor, and the
/// storages (`key`, values), written in sorted key order.
fn legacy_file(
    entries: &[(&str, Tensor)],
    storages: &[(&str, Vec<f32>)],
    truncate: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut p = P::default();
    p.proto();
    p.b.extend_from_slice(&[0x8a, 10]);
    p.b.extend_from_slice(&MAGIC_NUMBER.to_le_bytes()[..10]);
    p.stop();
    out.extend_from_slice(&p.b);
    let mut p = P::default();
    p.proto().int(1001).stop();
    out.extend_from_slice(&p.b);
    let mut p = P::default();
    p.proto().op(b'}');
    p.put();
    p.op(b'(')
        .str("protocol_version")
        .int(1001)
        .str("little_endian")
        .op(0x88);
    p.str("type_sizes").op(b'}');
    p.put();
    p.op(b'(')
        .str("short")
        .int(2)
        .str("int")
        .int(4)
        .str("long")
        .int(4)
        .op(b'u');
    p.op(b'u').stop();
    out.extend_from_slice(&p.b);

    // The checkpoint object.
    let mut p = P::default();
    p.proto().op(b'}');
    p.put();
    p.op(b'(').str("step").int(1_564_501).str("model_state");
    let ordered = p.global("collections", "OrderedDict");
    p.op(b')').op(b'R');
    p.put();
    let mut g = Globals {
        rebuild: None,
        storage: None,
        ordered,
        storage_str: None,
    };
    p.op(b'(');
    for (name, t) in entries {
        p.str(name);
        tensor(&mut p, &mut g, t);
    }
    p.op(b'u');
    // State dicts carry `_metadata` through BUILD.
    p.op(b'}')
        .op(b'(')
        .str("_metadata")
        .op(b'}')
        .op(b'u')
        .op(b'b');
    // optimizer_state: {"state": {140178894849224: {"step": 5, "exp_avg": tensor}},
    //                   "param_groups": [{"lr": 1e-4, "params": [140178894849224]}]}
    p.str("optimizer_state").op(b'}');
    p.put();
    p.op(b'(').str("state").op(b'}');
    p.put();
    p.int(140_178_894_849_224).op(b'}');
    p.put();
    p.op(b'(').str("step").int(5).str("exp_avg");
    tensor(
        &mut p,
        &mut g,
        &Tensor {
            key: storages[0].0,
            numel: storages[0].1.len(),
            offset: 0,
            shape: &[1],
            stride: &[1],
        },
    );
    p.op(b'u').op(b's');
    p.str("param_groups").op(b']');
    p.put();
    p.op(b'}');
    p.put();
    p.op(b'(').str("lr").float(1e-4).str("params").op(b']');
    p.put();
    p.int(140_178_894_849_224).op(b'a').op(b'u').op(b'a');
    p.op(b'u').op(b'u').stop();
    out.extend_from_slice(&p.b);

    // Storage keys, then the storages.
    let mut p = P::default();
    p.proto().op(b']');
    p.put();
    p.op(b'(');
    for (k, _) in storages {
        p.str(k);
    }
    p.op(b'e').stop();
    out.extend_from_slice(&p.b);
    for (_, vals) in storages {
        out.extend_from_slice(&(vals.len() as i64).to_le_bytes());
        for v in vals {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.truncate(out.len() - truncate);
    out
}

fn sample_file(truncate: usize) -> Vec<u8> {
    let shared: Vec<f32> = (0..10).map(|i| i as f32 * 0.5 - 1.0).collect();
    let other = vec![3.25f32, -7.5, 1e-3];
    legacy_file(
        &[
            (
                "lstm.weight_ih_l0",
                Tensor {
                    key: "94770388928816",
                    numel: 10,
                    offset: 0,
                    shape: &[2, 3],
                    stride: &[3, 1],
                },
            ),
            // A transposed view of the next 4 elements: element (i, j) at offset + i + 2j.
            (
                "lstm.weight_hh_l0",
                Tensor {
                    key: "94770388928816",
                    numel: 10,
                    offset: 6,
                    shape: &[2, 2],
                    stride: &[1, 2],
                },
            ),
            (
                "linear.bias",
                Tensor {
                    key: "94768892977536",
                    numel: 3,
                    offset: 0,
                    shape: &[3],
                    stride: &[1],
                },
            ),
        ],
        &[("94768892977536", other), ("94770388928816", shared)],
        truncate,
    )
}

#[test]
fn reads_values_views_and_paths() {
    let bytes = sample_file(0);
    let t = read_legacy_checkpoint(&bytes).unwrap();
    let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model_state.lstm.weight_ih_l0",
            "model_state.lstm.weight_hh_l0",
            "model_state.linear.bias",
            "optimizer_state.state.140178894849224.exp_avg",
        ]
    );
    assert_eq!(t[0].shape, [2, 3]);
    assert_eq!(t[0].data, [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]);
    // Shared storage at offset 6 (values 2.0, 2.5, 3.0, 3.5) read through stride (1, 2).
    assert_eq!(t[1].shape, [2, 2]);
    assert_eq!(t[1].data, [2.0, 3.0, 2.5, 3.5]);
    assert_eq!(t[2].data, [3.25, -7.5, 1e-3]);
    assert_eq!(t[3].data, [3.25]);
}

#[test]
fn converts_the_state_dict_to_safetensors() {
    let st = legacy_checkpoint_to_safetensors(&sample_file(0), "model_state").unwrap();
    let parsed = safetensors::SafeTensors::deserialize(&st).unwrap();
    let mut names = parsed.names();
    names.sort();
    assert_eq!(
        names,
        ["linear.bias", "lstm.weight_hh_l0", "lstm.weight_ih_l0"]
    );
    let v = parsed.tensor("lstm.weight_hh_l0").unwrap();
    assert_eq!(v.shape(), [2, 2]);
    let vals: Vec<f32> = v
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(vals, [2.0, 3.0, 2.5, 3.5]);
    assert!(legacy_checkpoint_to_safetensors(&sample_file(0), "nothing").is_err());
}

#[test]
fn truncated_or_tampered_files_name_the_offset() {
    let e = read_legacy_checkpoint(&sample_file(5))
        .unwrap_err()
        .to_string();
    assert!(e.contains("run past the end"), "{e}");
    // A count that disagrees with the declared storage size.
    let mut bytes = sample_file(0);
    let n = bytes.len();
    // The last storage holds 10 floats: its count sits 48 bytes from the end.
    let at = n - 40 - 8;
    bytes[at..at + 8].copy_from_slice(&9i64.to_le_bytes());
    let e = read_legacy_checkpoint(&bytes).unwrap_err().to_string();
    assert!(
        e.contains("bytes after the last storage") || e.contains("declared"),
        "{e}"
    );
    // A global outside the allow-list.
    let mut bytes = sample_file(0);
    let pos = bytes
        .windows(12)
        .position(|w| w == b"FloatStorage")
        .unwrap();
    bytes[pos..pos + 12].copy_from_slice(b"LongStorage\n");
    let e = read_legacy_checkpoint(&bytes).unwrap_err().to_string();
    assert!(e.contains("not allowed") && e.contains("byte "), "{e}");
}

#[test]
fn random_ge2e_weights_survive_the_legacy_format() {
    // Write random GE2E weights (small) as a legacy file, convert, load: same values.
    let w = Ge2eWeights::random(11, 4, 3, 2, 5).unwrap();
    let tensors = w.to_tensors();
    let mut storages = Vec::new();
    let mut entries = Vec::new();
    let keys: Vec<String> = (0..tensors.len()).map(|i| format!("{:03}", i)).collect();
    for (t, k) in tensors.iter().zip(&keys) {
        storages.push((k.as_str(), t.data.clone()));
    }
    let strides: Vec<Vec<usize>> = tensors
        .iter()
        .map(|t| {
            if t.shape.len() == 2 {
                vec![t.shape[1], 1]
            } else {
                vec![1]
            }
        })
        .collect();
    for ((t, k), s) in tensors.iter().zip(&keys).zip(&strides) {
        entries.push((
            t.name.as_str(),
            Tensor {
                key: k,
                numel: t.data.len(),
                offset: 0,
                shape: &t.shape,
                stride: s,
            },
        ));
    }
    let bytes = legacy_file(&entries, &storages, 0);
    let st = legacy_checkpoint_to_safetensors(&bytes, "model_state").unwrap();
    let back = Ge2eWeights::from_safetensors(&st).unwrap();
    assert_eq!(back, w);
}
