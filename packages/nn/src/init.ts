/**
 * Weight initialisers with `torch.nn.init` semantics. Each fills a tensor's storage in place from the seeded
 * generator (`manualSeed`) and returns the tensor; nothing is recorded in the autograd graph.
 */
import { rand, randn, type Tensor } from '@tensorloom/autograd';

const fmtShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** Nonlinearities `calculateGain` knows (PyTorch's names). */
export type Nonlinearity =
  | 'linear'
  | 'identity'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';

/** Which fan the Kaiming initialisers preserve: `fan_in` keeps forward variance, `fan_out` backward. */
export type FanMode = 'fan_in' | 'fan_out';

/**
 * The recommended gain for a nonlinearity (PyTorch's table): 1 for linear/conv/sigmoid, 5/3 for tanh, √2 for
 * relu, √(2 / (1 + slope²)) for leaky_relu (slope `param`, default 0.01), 3/4 for selu.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'identity':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope))
        throw new Error(`calculateGain: negative slope ${param} for leaky_relu is not a finite number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`calculateGain: unsupported nonlinearity '${nonlinearity as string}'`);
  }
}

/**
 * Fan-in and fan-out of a weight of shape [out, in, ...kernel]: in·∏kernel and out·∏kernel (the receptive
 * field multiplies both). Needs at least 2 dims.
 */
export function calculateFanInAndFanOut(t: Tensor): {
  /** Inputs feeding each output unit: size(1) × receptive field. */
  fanIn: number;
  /** Outputs each input unit feeds: size(0) × receptive field. */
  fanOut: number;
} {
  if (t.ndim < 2) {
    throw new Error(
      `calculateFanInAndFanOut: fan in and fan out need a tensor with at least 2 dims, got ${fmtShape(t.shape)}`,
    );
  }
  let receptive = 1;
  for (let d = 2; d < t.ndim; d++) receptive *= t.shape[d]!;
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

function fanOf(op: string, t: Tensor, mode: FanMode): number {
  if (mode !== 'fan_in' && mode !== 'fan_out')
    throw new Error(`${op}: mode must be 'fan_in' or 'fan_out', got '${mode as string}'`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return mode === 'fan_in' ? fanIn : fanOut;
}

/** Fills t with samples from U(a, b). */
export function uniform_<T extends Tensor>(t: T, a = 0, b = 1): T {
  if (!(a <= b)) throw new Error(`uniform_: expected a <= b, got a=${a}, b=${b}`);
  const u = rand(t.shape, { dtype: 'float64' }).data;
  const d = t.data;
  t.bumpVersion();
  for (let i = 0; i < d.length; i++) d[i] = a + (b - a) * u[i]!;
  return t;
}

/** Fills t with samples from N(mean, std²). */
export function normal_<T extends Tensor>(t: T, mean = 0, std = 1): T {
  if (!(std >= 0)) throw new Error(`normal_: std must be >= 0, got ${std}`);
  const z = randn(t.shape, { dtype: 'float64' }).data;
  const d = t.data;
  t.bumpVersion();
  for (let i = 0; i < d.length; i++) d[i] = mean + std * z[i]!;
  return t;
}

/** Fills t with `value`. */
export function constant_<T extends Tensor>(t: T, value: number): T {
  t.data.fill(value);
  t.bumpVersion();
  return t;
}

/** Fills t with zeros. */
export function zeros_<T extends Tensor>(t: T): T {
  return constant_(t, 0);
}

/** Fills t with ones. */
export function ones_<T extends Tensor>(t: T): T {
  return constant_(t, 1);
}

/**
 * Glorot/Xavier uniform: U(−a, a) with a = gain·√(6 / (fanIn + fanOut)), i.e. std = gain·√(2 / (fanIn + fanOut)).
 */
export function xavierUniform_<T extends Tensor>(t: T, gain = 1): T {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const std = gain * Math.sqrt(2 / (fanIn + fanOut));
  const a = Math.sqrt(3) * std; // U(−a, a) has variance a²/3
  return uniform_(t, -a, a);
}

/** Glorot/Xavier normal: N(0, std²) with std = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal_<T extends Tensor>(t: T, gain = 1): T {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/** Options of the Kaiming (He) initialisers; PyTorch's defaults. */
export interface KaimingOptions {
  /** Negative slope of the leaky ReLU that follows (used only by 'leaky_relu'). Default 0. */
  a?: number;
  /** Default 'fan_in'. */
  mode?: FanMode;
  /** Default 'leaky_relu'. */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(op: string, t: Tensor, options: KaimingOptions): number | null {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = options;
  // PyTorch warns and leaves zero-element tensors alone (the fan would be 0).
  if (t.size === 0) return null;
  return calculateGain(nonlinearity, a) / Math.sqrt(fanOf(op, t, mode));
}

/**
 * Kaiming/He uniform: U(−bound, bound) with bound = √3 · gain / √fan. `Linear`'s default (a = √5) gives
 * bound = 1/√fanIn.
 */
export function kaimingUniform_<T extends Tensor>(t: T, options: KaimingOptions = {}): T {
  const std = kaimingStd('kaimingUniform_', t, options);
  if (std === null) return t;
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound);
}

/** Kaiming/He normal: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_<T extends Tensor>(t: T, options: KaimingOptions = {}): T {
  const std = kaimingStd('kaimingNormal_', t, options);
  if (std === null) return t;
  return normal_(t, 0, std);
}

/**
 * Householder QR of the row-major m×n matrix `a` (m ≥ n), overwriting `a` with R. Returns the thin Q
 * (m×n, row-major) and the diagonal of R. Each step reflects column k onto ±‖x‖e_k with
 * H = I − 2vvᵀ/(vᵀv), v = x + sign(x₀)‖x‖e₀ (the sign avoids cancellation).
 */
function householderQr(a: Float64Array, m: number, n: number): { q: Float64Array; rDiag: Float64Array } {
  const vs: Float64Array[] = [];
  const rDiag = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let norm = 0;
    for (let i = k; i < m; i++) norm += a[i * n + k]! ** 2;
    norm = Math.sqrt(norm);
    const x0 = a[k * n + k]!;
    const alpha = x0 >= 0 ? -norm : norm; // R[k,k]
    const v = new Float64Array(m - k);
    for (let i = k; i < m; i++) v[i - k] = a[i * n + k]!;
    v[0] = x0 - alpha;
    let vv = 0;
    for (let i = 0; i < v.length; i++) vv += v[i]! * v[i]!;
    vs.push(v);
    rDiag[k] = alpha;
    if (vv === 0) continue; // column already reduced
    // Apply H to the remaining columns: a ← a − v·(2 vᵀa / vᵀv).
    for (let j = k; j < n; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i - k]! * a[i * n + j]!;
      const f = (2 * dot) / vv;
      for (let i = k; i < m; i++) a[i * n + j]! -= f * v[i - k]!;
    }
  }
  // Q = H₀H₁…H_{n−1} applied to the first n columns of the identity, from the last reflection back.
  const q = new Float64Array(m * n);
  for (let j = 0; j < n; j++) q[j * n + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k]!;
    let vv = 0;
    for (let i = 0; i < v.length; i++) vv += v[i]! * v[i]!;
    if (vv === 0) continue;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let i = k; i < m; i++) dot += v[i - k]! * q[i * n + j]!;
      const f = (2 * dot) / vv;
      for (let i = k; i < m; i++) q[i * n + j]! -= f * v[i - k]!;
    }
  }
  return { q, rDiag };
}

/**
 * A (semi-)orthogonal matrix, as PyTorch: t viewed as [rows, cols] (cols = ∏ trailing dims) is filled with the
 * Q factor of the QR decomposition of a standard normal matrix (transposed when rows < cols), with each
 * column multiplied by sign(R[k,k]) so that the result is uniformly distributed, then scaled by `gain`.
 */
export function orthogonal_<T extends Tensor>(t: T, gain = 1): T {
  if (t.ndim < 2)
    throw new Error(`orthogonal_: needs a tensor with at least 2 dims, got ${fmtShape(t.shape)}`);
  if (t.size === 0) return t;
  const rows = t.shape[0]!;
  const cols = t.size / rows;
  const flat = randn([rows, cols], { dtype: 'float64' }).data as Float64Array;
  const tall = rows >= cols;
  const [m, n] = tall ? [rows, cols] : [cols, rows];
  const a = new Float64Array(m * n);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) a[tall ? i * n + j : j * n + i] = flat[i * cols + j]!;
  }
  const { q, rDiag } = householderQr(a, m, n);
  const d = t.data;
  t.bumpVersion();
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      // sign(0) = 0 in PyTorch too; it happens only for a rank-deficient draw (probability zero).
      const value = gain * Math.sign(rDiag[j]!) * q[i * n + j]!;
      d[tall ? i * cols + j : j * cols + i] = value;
    }
  }
  return t;
}
