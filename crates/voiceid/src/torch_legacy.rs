//! Reader for the **legacy** (pre-zip, torch < 1.6) PyTorch serialisation, enough for
//! checkpoints of float tensors such as resemblyzer's `pretrained.pt`, and its conversion to
//! safetensors.
//!
//! # The format
//! A legacy file is five pickles (protocol 2) followed by raw storage bytes:
//! 1. the magic number `0x1950a86a20f9469cfc6c` (a `LONG1`);
//! 2. the protocol version, 1001;
//! 3. system info: `{"protocol_version": 1001, "little_endian": True, "type_sizes": {...}}`;
//! 4. the object itself (for a checkpoint, a dict holding an `OrderedDict` state dict), where
//!    each tensor is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
//!    requires_grad, backward_hooks)` and each storage a *persistent id*
//!    `("storage", torch.FloatStorage, key, location, numel, view_metadata)`;
//! 5. the list of storage keys, in the order their data follows;
//!
//! then, for each key: its element count (int64, little-endian) and its elements (float32,
//! little-endian). Several tensors may share one storage at different offsets (resemblyzer's
//! LSTM weights all live in one cuDNN-flattened storage).
//!
//! # What this reader accepts
//! A *restricted* pickle interpreter: only the opcodes such files contain (listed in
//! [`Op`]), only three globals — `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`
//! and `torch.FloatStorage` — and nothing is ever executed: a global is a tag, `REDUCE` builds
//! a dict or a tensor reference, and any other callable is refused with the byte offset.
//! Zip-format checkpoints (torch ≥ 1.6) are recognised and refused with a clear message.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::error::{Result, VoiceIdError};

/// The legacy format's magic number (pickle 1).
pub const MAGIC_NUMBER: u128 = 0x1950a86a20f9469cfc6c;
/// The legacy format's protocol version (pickle 2).
pub const PROTOCOL_VERSION: i128 = 1001;
/// Largest file accepted, bytes (resemblyzer's is 17 MB).
pub const MAX_FILE_BYTES: usize = 1 << 30;
/// Longest pickled string accepted, bytes.
pub const MAX_STRING_BYTES: usize = 1 << 20;
/// Largest `LONG1` integer accepted, bytes (the magic number needs 10).
pub const MAX_LONG_BYTES: usize = 16;
/// Deepest value stack accepted (the pickles here stay below 20).
pub const MAX_STACK: usize = 10_000;
/// Most tensor dimensions accepted.
pub const MAX_DIMS: usize = 8;

/// One tensor read from a checkpoint: its dotted path in the pickled object (e.g.
/// `model_state.lstm.weight_ih_l0`), shape and values in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Dotted path: dict keys (strings or integers) and list/tuple indices.
    pub name: String,
    /// Shape (row-major; `[]` for a scalar).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

/// The opcodes this reader interprets (pickle protocol 2 subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `\x80` protocol marker.
    Proto,
    /// `.` end of pickle.
    Stop,
    /// `(` mark.
    Mark,
    /// `N`, `\x88`, `\x89`: None, True, False.
    Constant,
    /// `J`, `K`, `M`, `\x8a`: BININT, BININT1, BININT2, LONG1.
    Int,
    /// `G` 8-byte big-endian float.
    BinFloat,
    /// `X` UTF-8 string with a 4-byte length.
    BinUnicode,
    /// `q`, `r`: BINPUT, LONG_BINPUT.
    Put,
    /// `h`, `j`: BINGET, LONG_BINGET.
    Get,
    /// `}`, `)`, `]`: empty dict, tuple, list.
    Empty,
    /// `t`, `\x85`, `\x86`, `\x87`: tuples.
    Tuple,
    /// `s`, `u`: SETITEM, SETITEMS.
    SetItems,
    /// `a`, `e`: APPEND, APPENDS.
    Append,
    /// `c` GLOBAL (only the three allowed names).
    Global,
    /// `R` REDUCE (only on the allowed globals).
    Reduce,
    /// `Q` BINPERSID (storage references).
    BinPersId,
    /// `b` BUILD (object state; ignored for dicts, as `OrderedDict` attributes).
    Build,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Global {
    OrderedDict,
    RebuildTensorV2,
    FloatStorage,
}

#[derive(Clone, Debug)]
struct StorageRef {
    key: String,
    numel: usize,
}

#[derive(Clone, Debug)]
struct TensorRef {
    storage: StorageRef,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

type Shared<T> = Rc<RefCell<T>>;

#[derive(Clone, Debug)]
enum Value {
    None,
    Bool(bool),
    Int(i128),
    /// Read for `Debug` output only (optimizer hyper-parameters such as `lr`).
    Float(#[allow(dead_code)] f64),
    Str(String),
    Tuple(Rc<Vec<Value>>),
    List(Shared<Vec<Value>>),
    Dict(Shared<Vec<(Value, Value)>>),
    Global(Global),
    Storage(StorageRef),
    Tensor(Rc<TensorRef>),
    Mark,
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
            Value::Mark => "mark",
        }
    }
}

fn err(offset: usize, why: impl Into<String>) -> VoiceIdError {
    VoiceIdError::Checkpoint {
        offset,
        why: why.into(),
    }
}

/// A restricted pickle machine over one pickle starting at `pos`.
struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being run (for errors).
    op_at: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Machine {
            data,
            pos,
            op_at: pos,
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                err(
                    self.op_at,
                    format!("opcode argument of {n} bytes runs past the end of the file"),
                )
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn push(&mut self, v: Value) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(err(
                self.op_at,
                format!("value stack deeper than {MAX_STACK}"),
            ));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        match self.stack.pop() {
            Some(Value::Mark) => Err(err(self.op_at, "found a mark where a value was expected")),
            Some(v) => Ok(v),
            None => Err(err(self.op_at, "stack underflow")),
        }
    }

    /// Values above the topmost mark (the mark is removed).
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or_else(|| err(self.op_at, "no mark on the stack"))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top(&self) -> Result<&Value> {
        match self.stack.last() {
            Some(Value::Mark) | None => Err(err(self.op_at, "no value on the stack")),
            Some(v) => Ok(v),
        }
    }

    fn read_line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .take(256)
            .position(|&b| b == b'\n')
            .ok_or_else(|| err(self.op_at, "GLOBAL name without a newline"))?;
        let line = self.take(n + 1)?;
        std::str::from_utf8(&line[..n]).map_err(|_| err(self.op_at, "GLOBAL name is not UTF-8"))
    }

    /// Run until STOP; returns the pickled value.
    fn run(&mut self) -> Result<Value> {
        loop {
            self.op_at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 2 {
                        return Err(err(
                            self.op_at,
                            format!("pickle protocol {proto}; legacy checkpoints use 2"),
                        ));
                    }
                }
                b'.' => {
                    let v = self.pop()?;
                    if !self.stack.is_empty() {
                        return Err(err(self.op_at, "values left on the stack at STOP"));
                    }
                    return Ok(v);
                }
                b'(' => self.push(Value::Mark)?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i128))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i128))?
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i128))?
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > MAX_LONG_BYTES {
                        return Err(err(
                            self.op_at,
                            format!("LONG1 of {n} bytes (at most {MAX_LONG_BYTES})"),
                        ));
                    }
                    let b = self.take(n)?;
                    let mut v: i128 = 0;
                    for (i, &byte) in b.iter().enumerate() {
                        v |= (byte as i128) << (8 * i);
                    }
                    // Two's complement: sign-extend from the last byte.
                    if n > 0 && n < 16 && b[n - 1] & 0x80 != 0 {
                        v -= 1i128 << (8 * n);
                    }
                    self.push(Value::Int(v))?
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Value::Float(f64::from_be_bytes(a)))?
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    if n > MAX_STRING_BYTES {
                        return Err(err(
                            self.op_at,
                            format!("string of {n} bytes (at most {MAX_STRING_BYTES})"),
                        ));
                    }
                    let b = self.take(n)?;
                    let s = std::str::from_utf8(b)
                        .map_err(|_| err(self.op_at, "BINUNICODE string is not UTF-8"))?;
                    self.push(Value::Str(s.to_owned()))?
                }
                b'q' | b'r' => {
                    let idx = if op == b'q' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v = self.top()?.clone();
                    self.memo.insert(idx, v);
                }
                b'h' | b'j' => {
                    let idx = if op == b'h' {
                        self.u8()? as u32
                    } else {
                        self.u32()?
                    };
                    let v =
                        self.memo.get(&idx).cloned().ok_or_else(|| {
                            err(self.op_at, format!("memo {idx} was never stored"))
                        })?;
                    self.push(v)?
                }
                b'}' => self.push(Value::Dict(Rc::new(RefCell::new(Vec::new()))))?,
                b']' => self.push(Value::List(Rc::new(RefCell::new(Vec::new()))))?,
                b')' => self.push(Value::Tuple(Rc::new(Vec::new())))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Rc::new(items)))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(err(self.op_at, "stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    if items.iter().any(|v| matches!(v, Value::Mark)) {
                        return Err(err(self.op_at, "mark inside a TUPLE1/2/3"));
                    }
                    self.push(Value::Tuple(Rc::new(items)))?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if items.len() % 2 != 0 {
                        return Err(err(self.op_at, "SETITEMS with an odd number of values"));
                    }
                    self.set_items(items)?
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?
                }
                b'c' => {
                    let module = self.read_line()?;
                    let name = self.read_line()?;
                    let g = match (module, name) {
                        ("collections", "OrderedDict") => Global::OrderedDict,
                        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
                        ("torch", "FloatStorage") => Global::FloatStorage,
                        _ => {
                            return Err(err(
                                self.op_at,
                                format!(
                                    "global {module}.{name} is not allowed (only \
                                     collections.OrderedDict, torch._utils._rebuild_tensor_v2 \
                                     and torch.FloatStorage)"
                                ),
                            ))
                        }
                    };
                    self.push(Value::Global(g))?
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = self.reduce(func, args)?;
                    self.push(v)?
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v)?
                }
                b'b' => {
                    let state = self.pop()?;
                    match (self.top()?, &state) {
                        // OrderedDict attributes (e.g. a state dict's `_metadata`): not data.
                        (Value::Dict(_), Value::Dict(_) | Value::None) => {}
                        (obj, _) => {
                            return Err(err(
                                self.op_at,
                                format!("BUILD on a {} is not supported", obj.kind()),
                            ))
                        }
                    }
                }
                other => {
                    return Err(err(
                        self.op_at,
                        format!("pickle opcode 0x{other:02x} is not supported by this reader"),
                    ))
                }
            }
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        let at = self.op_at;
        match self.top()? {
            Value::Dict(d) => {
                let mut d = d.borrow_mut();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    match &k {
                        Value::Str(_) | Value::Int(_) => {}
                        other => {
                            return Err(err(
                                at,
                                format!("dict key of type {} is not supported", other.kind()),
                            ))
                        }
                    }
                    d.push((k, v));
                }
                Ok(())
            }
            other => Err(err(at, format!("SETITEM(S) on a {}", other.kind()))),
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<()> {
        let at = self.op_at;
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            other => Err(err(at, format!("APPEND(S) on a {}", other.kind()))),
        }
    }

    fn reduce(&self, func: Value, args: Value) -> Result<Value> {
        let at = self.op_at;
        let Value::Tuple(args) = args else {
            return Err(err(at, format!("REDUCE arguments are a {}", args.kind())));
        };
        match func {
            Value::Global(Global::OrderedDict) => {
                if !args.is_empty() {
                    return Err(err(at, "OrderedDict() with arguments"));
                }
                Ok(Value::Dict(Rc::new(RefCell::new(Vec::new()))))
            }
            Value::Global(Global::RebuildTensorV2) => {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if !(6..=7).contains(&args.len()) {
                    return Err(err(
                        at,
                        format!("_rebuild_tensor_v2 with {} arguments", args.len()),
                    ));
                }
                let Value::Storage(storage) = &args[0] else {
                    return Err(err(
                        at,
                        format!("_rebuild_tensor_v2 storage is a {}", args[0].kind()),
                    ));
                };
                let offset = as_usize(&args[1], at, "storage_offset")?;
                let shape = as_usize_tuple(&args[2], at, "size")?;
                let stride = as_usize_tuple(&args[3], at, "stride")?;
                if shape.len() != stride.len() || shape.len() > MAX_DIMS {
                    return Err(err(
                        at,
                        format!(
                            "tensor with {} sizes and {} strides (at most {MAX_DIMS} dims)",
                            shape.len(),
                            stride.len()
                        ),
                    ));
                }
                // Highest element index touched must lie inside the storage.
                let numel: usize = shape.iter().product();
                if numel > 0 {
                    let last = shape
                        .iter()
                        .zip(&stride)
                        .try_fold(offset, |acc, (&n, &s)| {
                            (n - 1).checked_mul(s).and_then(|x| x.checked_add(acc))
                        })
                        .ok_or_else(|| err(at, "tensor extent overflows"))?;
                    if last >= storage.numel {
                        return Err(err(
                            at,
                            format!(
                                "tensor reaches element {last} of storage {} which holds {}",
                                storage.key, storage.numel
                            ),
                        ));
                    }
                }
                Ok(Value::Tensor(Rc::new(TensorRef {
                    storage: storage.clone(),
                    offset,
                    shape,
                    stride,
                })))
            }
            other => Err(err(
                at,
                format!("REDUCE of a {} is not allowed", other.kind()),
            )),
        }
    }

    fn persistent_load(&self, pid: Value) -> Result<Value> {
        let at = self.op_at;
        let Value::Tuple(t) = pid else {
            return Err(err(at, format!("persistent id is a {}", pid.kind())));
        };
        // ("storage", storage_type, key, location, numel, view_metadata)
        match t.as_slice() {
            [Value::Str(tag), ty, Value::Str(key), Value::Str(_location), numel, view]
                if tag == "storage" =>
            {
                if !matches!(ty, Value::Global(Global::FloatStorage)) {
                    return Err(err(at, "only torch.FloatStorage storages are supported"));
                }
                if !matches!(view, Value::None) {
                    return Err(err(at, "storage views are not supported"));
                }
                let numel = as_usize(numel, at, "storage size")?;
                Ok(Value::Storage(StorageRef {
                    key: key.clone(),
                    numel,
                }))
            }
            _ => Err(err(
                at,
                "persistent id is not (\"storage\", type, key, location, size, view)",
            )),
        }
    }
}

fn as_usize(v: &Value, at: usize, what: &str) -> Result<usize> {
    match v {
        Value::Int(i) if *i >= 0 && *i <= usize::MAX as i128 => Ok(*i as usize),
        other => Err(err(
            at,
            format!("{what} must be a non-negative int, found {}", other.kind()),
        )),
    }
}

fn as_usize_tuple(v: &Value, at: usize, what: &str) -> Result<Vec<usize>> {
    match v {
        Value::Tuple(t) => t.iter().map(|x| as_usize(x, at, what)).collect(),
        other => Err(err(
            at,
            format!("{what} must be a tuple, found {}", other.kind()),
        )),
    }
}

/// Walk the object and collect tensors with their dotted paths, in pickle order.
fn collect(v: &Value, path: &str, out: &mut Vec<(String, Rc<TensorRef>)>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Tensor(t) => out.push((path.to_owned(), t.clone())),
        Value::Dict(d) => {
            for (k, v) in d.borrow().iter() {
                let key = match k {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    _ => continue,
                };
                collect(v, &join(&key), out);
            }
        }
        Value::List(l) => {
            for (i, v) in l.borrow().iter().enumerate() {
                collect(v, &join(&i.to_string()), out);
            }
        }
        Value::Tuple(t) => {
            for (i, v) in t.iter().enumerate() {
                collect(v, &join(&i.to_string()), out);
            }
        }
        _ => {}
    }
}

fn dict_get<'v>(d: &'v [(Value, Value)], key: &str) -> Option<&'v Value> {
    d.iter().find_map(|(k, v)| match k {
        Value::Str(s) if s == key => Some(v),
        _ => None,
    })
}

/// Read every float tensor of a legacy PyTorch checkpoint, in the order the object pickle
/// lists them, with its dotted path (`model_state.lstm.weight_ih_l0`, ...). Strided views are
/// materialised in row-major order.
pub fn read_legacy_checkpoint(bytes: &[u8]) -> Result<Vec<NamedTensor>> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(err(
            0,
            format!("file of {} bytes (at most {MAX_FILE_BYTES})", bytes.len()),
        ));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(err(
            0,
            "this is a zip-format checkpoint (torch >= 1.6); only the legacy format is read",
        ));
    }
    // 1. magic number
    let mut m = Machine::new(bytes, 0);
    match m.run()? {
        Value::Int(v) if v == MAGIC_NUMBER as i128 => {}
        _ => return Err(err(0, "not a legacy PyTorch file (magic number missing)")),
    }
    // 2. protocol version
    let at = m.pos;
    let mut m = Machine::new(bytes, at);
    match m.run()? {
        Value::Int(PROTOCOL_VERSION) => {}
        other => {
            return Err(err(
                at,
                format!("protocol version {other:?}, expected {PROTOCOL_VERSION}"),
            ))
        }
    }
    // 3. system info
    let at = m.pos;
    let mut m = Machine::new(bytes, at);
    match m.run()? {
        Value::Dict(d) => {
            if !matches!(
                dict_get(&d.borrow(), "little_endian"),
                Some(Value::Bool(true))
            ) {
                return Err(err(at, "checkpoint was written on a big-endian machine"));
            }
        }
        other => return Err(err(at, format!("system info is a {}", other.kind()))),
    }
    // 4. the object
    let at = m.pos;
    let mut m = Machine::new(bytes, at);
    let object = m.run()?;
    // 5. storage keys
    let at = m.pos;
    let mut m = Machine::new(bytes, at);
    let keys: Vec<String> = match m.run()? {
        Value::List(l) => l
            .borrow()
            .iter()
            .map(|k| match k {
                Value::Str(s) => Ok(s.clone()),
                other => Err(err(at, format!("storage key is a {}", other.kind()))),
            })
            .collect::<Result<_>>()?,
        other => return Err(err(at, format!("storage key list is a {}", other.kind()))),
    };
    // Raw storages: int64 count then float32 values each.
    let mut pos = m.pos;
    let mut storages: HashMap<String, (usize, usize)> = HashMap::new(); // key -> (byte start, numel)
    for key in &keys {
        let head = bytes
            .get(pos..pos + 8)
            .ok_or_else(|| err(pos, format!("storage {key}: element count past the end")))?;
        let n = i64::from_le_bytes(head.try_into().expect("8 bytes"));
        let n = usize::try_from(n)
            .map_err(|_| err(pos, format!("storage {key}: negative element count {n}")))?;
        let start = pos + 8;
        let end = n
            .checked_mul(4)
            .and_then(|b| b.checked_add(start))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                err(
                    start,
                    format!("storage {key}: {n} floats run past the end of the file"),
                )
            })?;
        storages.insert(key.clone(), (start, n));
        pos = end;
    }
    if pos != bytes.len() {
        return Err(err(
            pos,
            format!("{} bytes after the last storage", bytes.len() - pos),
        ));
    }
    let mut found = Vec::new();
    collect(&object, "", &mut found);
    found
        .into_iter()
        .map(|(name, t)| {
            let &(start, numel) = storages.get(&t.storage.key).ok_or_else(|| {
                err(
                    at,
                    format!("tensor {name}: storage {} has no data", t.storage.key),
                )
            })?;
            if numel != t.storage.numel {
                return Err(err(
                    start - 8,
                    format!(
                        "storage {}: {numel} elements stored, {} declared",
                        t.storage.key, t.storage.numel
                    ),
                ));
            }
            let get = |i: usize| {
                let b = start + 4 * i;
                f32::from_le_bytes([bytes[b], bytes[b + 1], bytes[b + 2], bytes[b + 3]])
            };
            let total: usize = t.shape.iter().product();
            let mut data = Vec::with_capacity(total);
            let mut idx = vec![0usize; t.shape.len()];
            for _ in 0..total {
                let e = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
                data.push(get(e));
                // Row-major increment.
                for d in (0..idx.len()).rev() {
                    idx[d] += 1;
                    if idx[d] < t.shape[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            Ok(NamedTensor {
                name,
                shape: t.shape.clone(),
                data,
            })
        })
        .collect()
}

/// Serialise tensors as a safetensors file (F32, names as given, sorted by the format).
pub fn tensors_to_safetensors(tensors: &[NamedTensor]) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                t.shape.clone(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, data, shape)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| VoiceIdError::Weights(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, None)
        .map_err(|e| VoiceIdError::Weights(format!("safetensors: {e}")))
}

/// Convert a legacy checkpoint to safetensors, keeping the tensors under `prefix` (e.g.
/// `"model_state"` for resemblyzer, whose optimizer state is dropped) with the prefix and its
/// dot removed. An empty prefix keeps every tensor under its full path. Errors when nothing
/// matches.
pub fn legacy_checkpoint_to_safetensors(bytes: &[u8], prefix: &str) -> Result<Vec<u8>> {
    let all = read_legacy_checkpoint(bytes)?;
    let keep: Vec<NamedTensor> = all
        .into_iter()
        .filter_map(|mut t| {
            if prefix.is_empty() {
                return Some(t);
            }
            let rest = t.name.strip_prefix(prefix)?.strip_prefix('.')?.to_owned();
            t.name = rest;
            Some(t)
        })
        .collect();
    if keep.is_empty() {
        return Err(VoiceIdError::Weights(format!(
            "no tensor under `{prefix}` in the checkpoint"
        )));
    }
    tensors_to_safetensors(&keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_zip_and_garbage_with_offsets() {
        let e = read_legacy_checkpoint(b"PK\x03\x04rest").unwrap_err();
        assert!(e.to_string().contains("zip-format"), "{e}");
        let e = read_legacy_checkpoint(b"\x80\x02K\x05.").unwrap_err();
        assert!(e.to_string().contains("magic number"), "{e}");
        // A truncated BININT: the error names the opcode's offset.
        let e = read_legacy_checkpoint(b"\x80\x02J\x01").unwrap_err();
        assert!(e.to_string().contains("byte 2"), "{e}");
    }

    #[test]
    fn refuses_other_globals() {
        let mut p = Machine::new(b"\x80\x02cos\nsystem\n.", 0);
        let e = p.run().unwrap_err().to_string();
        assert!(e.contains("os.system is not allowed"), "{e}");
        assert!(e.contains("byte 2"), "{e}");
    }

    #[test]
    fn long1_sign_extension() {
        let mut p = Machine::new(b"\x80\x02\x8a\x01\xff.", 0);
        assert!(matches!(p.run().unwrap(), Value::Int(-1)));
        let mut p = Machine::new(b"\x80\x02\x8a\x02\xff\x00.", 0);
        assert!(matches!(p.run().unwrap(), Value::Int(255)));
    }
}
