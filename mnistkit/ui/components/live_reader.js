// The live reader: reads the pen's drawing in the browser while it moves.
//
// In:  data = bytes (live_reader.message): "MNK1", a uint32 header length, a JSON header
//      {model, network (mnistkit.network.to_binary's layout, or null when this browser already
//      has it), official ({digit, probabilities, image} from the server, or null)}, then the
//      network's float32 arrays, viewed in place (decodeMessage).
// Out: the trigger "need_network" when the browser lacks the network for data.model.
// Test contract: the root element carries data-testid="live-reading", data-digit,
// data-probabilities (JSON, ten numbers), data-ms (the last update's compute time) and
// data-image (the 28x28 image the network saw, 784 numbers 0-255, comma-separated).
//
// The preprocessing mirrors mnistkit/preprocess.py's to_mnist step by step (float32 where NumPy
// works in float32, PIL's Lanczos resampling, SciPy's exact distance transform), and the forward
// pass mirrors mnistkit/network.py, so the two agree on a finished drawing.

const SIZE = 28;
const BOX = 20;
const CENTRE = 14.0;
const INK_FLOOR = 0.2;
const MIN_CONTRAST = 20;
const MIN_STROKE = 2.0;
const f32 = Math.fround;
// While the pen moves, a reading starts at most every MIN_GAP ms, and waits after each one
// BUSY_SHARE times as long as it took: the live reading keeps up with the pen on one screen,
// and a classroom computer showing many learners' pads is not swamped by readings.
const MIN_GAP = 60;
const BUSY_SHARE = 4;

// --- small helpers ------------------------------------------------------------------------------

function roundHalfEven(x) {
  // Python's round() and NumPy's rint(): halves go to the even neighbour.
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function boundingBox(values, width, height) {
  // [top, left, bottom, right] of the nonzero values (end exclusive), or null when there are none.
  let top = height, left = width, bottom = -1, right = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (values[row + x] !== 0) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  return bottom < 0 ? null : [top, left, bottom + 1, right + 1];
}

// --- exact Euclidean distance transform (Felzenszwalb and Huttenlocher), as SciPy's ------------

const FAR = 1e20;

function distanceTransform(features, width, height) {
  // For every pixel, the squared distance to the nearest feature pixel and that pixel's index.
  const columnDistance = new Float64Array(width * height);
  const nearestRow = new Int32Array(width * height);
  for (let x = 0; x < width; x++) {
    let last = -1;
    for (let y = 0; y < height; y++) {
      if (features[y * width + x]) last = y;
      nearestRow[y * width + x] = last;
    }
    last = -1;
    for (let y = height - 1; y >= 0; y--) {
      const index = y * width + x;
      if (features[index]) last = y;
      const above = nearestRow[index];
      let best = above;
      if (last >= 0 && (above < 0 || last - y < y - above)) best = last;
      nearestRow[index] = best;
      columnDistance[index] = best < 0 ? FAR : (y - best) * (y - best);
    }
  }
  const squared = new Float64Array(width * height);
  const nearest = new Int32Array(width * height);
  const parabolas = new Int32Array(width);
  const bounds = new Float64Array(width + 1);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let k = 0;
    parabolas[0] = 0;
    bounds[0] = -Infinity;
    bounds[1] = Infinity;
    for (let q = 1; q < width; q++) {
      const lifted = columnDistance[row + q] + q * q;
      let v = parabolas[k];
      let s = (lifted - (columnDistance[row + v] + v * v)) / (2 * q - 2 * v);
      while (s <= bounds[k]) {
        k--;
        v = parabolas[k];
        s = (lifted - (columnDistance[row + v] + v * v)) / (2 * q - 2 * v);
      }
      k++;
      parabolas[k] = q;
      bounds[k] = s;
      bounds[k + 1] = Infinity;
    }
    k = 0;
    for (let q = 0; q < width; q++) {
      while (bounds[k + 1] < q) k++;
      const v = parabolas[k];
      squared[row + q] = (q - v) * (q - v) + columnDistance[row + v];
      nearest[row + q] = nearestRow[row + v] * width + v;
    }
  }
  return { squared, nearest };
}

// --- PIL's Lanczos resampling of a float ("F") image --------------------------------------------

function lanczos(x) {
  if (!(x >= -3 && x < 3)) return 0;
  const sinc = (t) => (t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t));
  return sinc(x) * sinc(x / 3);
}

function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const taps = [];
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const last = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights = new Float64Array(Math.max(last - first, 0));
    const step = 1 / filterScale;
    let total = 0;
    for (let x = 0; x < weights.length; x++) {
      weights[x] = lanczos((x + first - centre + 0.5) * step);
      total += weights[x];
    }
    if (total !== 0) for (let x = 0; x < weights.length; x++) weights[x] /= total;
    taps.push({ first, weights });
  }
  return taps;
}

function resizeLanczos(image, width, height, outWidth, outHeight) {
  let values = image, w = width;
  if (outWidth !== width) {
    const taps = coefficients(width, outWidth);
    const out = new Float32Array(outWidth * height);
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        const { first, weights } = taps[xx];
        let sum = 0;
        for (let x = 0; x < weights.length; x++) sum += values[y * w + first + x] * weights[x];
        out[y * outWidth + xx] = sum;
      }
    }
    values = out;
    w = outWidth;
  }
  if (outHeight !== height) {
    const taps = coefficients(height, outHeight);
    const out = new Float32Array(w * outHeight);
    for (let yy = 0; yy < outHeight; yy++) {
      const { first, weights } = taps[yy];
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let y = 0; y < weights.length; y++) sum += values[(first + y) * w + x] * weights[y];
        out[yy * w + x] = sum;
      }
    }
    values = out;
  }
  return values;
}

// NumPy's float32 shade, pixels @ [0.299, 0.587, 0.114], one product at a time.
const RED = Float32Array.from({ length: 256 }, (_, v) => f32(v * f32(0.299)));
const GREEN = Float32Array.from({ length: 256 }, (_, v) => f32(v * f32(0.587)));
const BLUE = Float32Array.from({ length: 256 }, (_, v) => f32(v * f32(0.114)));
const WHITE = f32(f32(RED[255] + GREEN[255]) + BLUE[255]);

// --- to_mnist ---------------------------------------------------------------------------------

export function toMnist(rgba, width, height) {
  // The drawing (RGBA bytes, opaque) as MNIST's 28x28: Uint8Array(784), or null when blank.
  const count = width * height;
  const gray = new Float32Array(count);
  const histogram = new Int32Array(256);
  let darkest = Infinity, lightest = -Infinity;
  for (let i = 0; i < count; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    if (r === 255 && g === 255 && b === 255) {
      gray[i] = WHITE; // blank paper, most of the drawing
      histogram[255]++;
      continue;
    }
    const shade = f32(f32(RED[r] + GREEN[g]) + BLUE[b]);
    gray[i] = shade;
    histogram[Math.min(255, Math.max(0, roundHalfEven(shade)))]++;
    if (shade < darkest) darkest = shade;
    if (shade > lightest) lightest = shade;
  }
  if (histogram[255] === count) return null;
  darkest = Math.min(darkest, WHITE);
  lightest = Math.max(lightest, WHITE);
  // ink_map: the commonest shade is the paper; ink is what differs from it on the other side.
  let background = 0;
  for (let v = 1; v < 256; v++) if (histogram[v] > histogram[background]) background = v;
  const light = background >= 128;
  const strongest = Math.max(0, light ? f32(background - darkest) : f32(lightest - background));
  if (strongest < MIN_CONTRAST) return null;
  const floor = INK_FLOOR * strongest;
  const floor32 = f32(floor), span32 = f32(strongest - floor);
  const ink = new Float32Array(count);
  let top = height, left = width, bottom = 0, right = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const contrast = Math.max(0, light ? f32(background - gray[i]) : f32(gray[i] - background));
      if (contrast <= floor32) continue;
      const v = Math.min(1, f32(f32(contrast - floor32) / span32));
      if (v <= 0) continue;
      ink[i] = v;
      if (y < top) top = y;
      if (y >= bottom) bottom = y + 1;
      if (x < left) left = x;
      if (x >= right) right = x + 1;
    }
  }
  // widen_thin_strokes, then crop to the (widened) ink
  const factor = BOX / Math.max(bottom - top, right - left);
  const widened = thicken(ink, width, height, MIN_STROKE / factor, [top, left, bottom, right]);
  return fitted(widened.ink, width, widened.box);
}

function fitted(ink, width, [top, left, bottom, right]) {
  // scale_to_box, pad_to_field, centre_by_mass and the display's rounding to 0-255.
  const cropHeight = bottom - top, cropWidth = right - left;
  const cropped = new Float32Array(cropHeight * cropWidth);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) cropped[y * cropWidth + x] = ink[(top + y) * width + left + x];
  }
  const scale = BOX / Math.max(cropHeight, cropWidth);
  const outWidth = Math.max(1, roundHalfEven(cropWidth * scale));
  const outHeight = Math.max(1, roundHalfEven(cropHeight * scale));
  const scaled = resizeLanczos(cropped, cropWidth, cropHeight, outWidth, outHeight);
  let peak = 0;
  for (let i = 0; i < scaled.length; i++) {
    if (scaled[i] < 0) scaled[i] = 0;
    if (scaled[i] > peak) peak = scaled[i];
  }
  const divisor = f32(Math.max(peak, 1e-6));
  // pad_to_field
  const field = new Float32Array(SIZE * SIZE);
  const padTop = (SIZE - outHeight) >> 1, padLeft = (SIZE - outWidth) >> 1;
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      field[(padTop + y) * SIZE + padLeft + x] = f32(scaled[y * outWidth + x] / divisor);
    }
  }
  // centre_by_mass: whole-pixel shift, never pushing ink off the field
  let mass = 0, rows = 0, columns = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = field[y * SIZE + x];
      mass += v;
      rows += v * y;
      columns += v * x;
    }
  }
  const pixels = new Uint8Array(SIZE * SIZE);
  if (mass === 0) return pixels;
  const [fTop, fLeft, fBottom, fRight] = boundingBox(field, SIZE, SIZE);
  const clamp = (v, low, high) => Math.min(Math.max(v, low), high);
  const shiftRows = clamp(roundHalfEven(CENTRE - rows / mass), -fTop, SIZE - fBottom);
  const shiftColumns = clamp(roundHalfEven(CENTRE - columns / mass), -fLeft, SIZE - fRight);
  for (let y = 0; y < SIZE; y++) {
    const from = y - shiftRows;
    if (from < 0 || from >= SIZE) continue;
    for (let x = 0; x < SIZE; x++) {
      const source = x - shiftColumns;
      if (source < 0 || source >= SIZE) continue;
      const v = Math.min(1, Math.max(0, field[from * SIZE + source]));
      pixels[y * SIZE + x] = roundHalfEven(f32(v * 255));
    }
  }
  return pixels;
}

function thicken(ink, width, height, minWidth, inkBox) {
  // preprocess.thicken: strokes thinner than minWidth pixels widened to about that width.
  const unchanged = { ink, box: inkBox };
  const mask = new Uint8Array(width * height);
  let top = height, left = width, bottom = 0, right = 0;
  for (let y = inkBox[0]; y < inkBox[2]; y++) {
    for (let x = inkBox[1]; x < inkBox[3]; x++) {
      if (ink[y * width + x] > 0.5) {
        mask[y * width + x] = 1;
        if (y < top) top = y;
        if (y >= bottom) bottom = y + 1;
        if (x < left) left = x;
        if (x >= right) right = x + 1;
      }
    }
  }
  if (bottom === 0) return unchanged;
  // stroke_width on the mask padded by one pixel: only the mask's box plus one pixel matters.
  const w = right - left + 2, h = bottom - top + 2;
  const background = new Uint8Array(w * h).fill(1);
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) background[(y - top + 1) * w + x - left + 1] = 1 - mask[y * width + x];
  }
  const inside = distanceTransform(background, w, h);
  let sum = 0, n = 0;
  for (let i = 0; i < w * h; i++) {
    if (!background[i]) {
      sum += Math.sqrt(inside.squared[i]);
      n++;
    }
  }
  const stroke = 4 * (sum / n) - 2;
  if (stroke >= minWidth) return unchanged;
  const radius = (minWidth - stroke) / 2;
  if (radius < 1) return unchanged;
  // Each pixel within radius of a stroke takes the ink of the stroke's nearest pixel.
  const reach = Math.ceil(radius) + 1;
  const top2 = Math.max(0, Math.min(top, inkBox[0]) - reach);
  const left2 = Math.max(0, Math.min(left, inkBox[1]) - reach);
  const bottom2 = Math.min(height, Math.max(bottom, inkBox[2]) + reach);
  const right2 = Math.min(width, Math.max(right, inkBox[3]) + reach);
  const w2 = right2 - left2, h2 = bottom2 - top2;
  const strokes = new Uint8Array(w2 * h2);
  for (let y = 0; y < h2; y++) {
    for (let x = 0; x < w2; x++) strokes[y * w2 + x] = mask[(y + top2) * width + x + left2];
  }
  const near = distanceTransform(strokes, w2, h2);
  const widened = ink.slice();
  for (let i = 0; i < w2 * h2; i++) {
    if (Math.sqrt(near.squared[i]) <= radius) {
      const y = Math.floor(i / w2), x = i - y * w2;
      const j = near.nearest[i], ny = Math.floor(j / w2), nx = j - ny * w2;
      const here = (y + top2) * width + x + left2;
      widened[here] = Math.max(ink[here], ink[(ny + top2) * width + nx + left2]);
    }
  }
  let b = [height, width, 0, 0];
  for (let y = top2; y < bottom2; y++) {
    for (let x = left2; x < right2; x++) {
      if (widened[y * width + x] !== 0) {
        b = [Math.min(b[0], y), Math.min(b[1], x), Math.max(b[2], y + 1), Math.max(b[3], x + 1)];
      }
    }
  }
  return { ink: widened, box: b };
}

// --- the forward pass (mnistkit/network.py) -----------------------------------------------------

function unpack(entry, floats) {
  const values = floats.subarray(entry.offset, entry.offset + entry.length);
  if (values.length !== entry.length) throw new Error("the network's arrays are cut short");
  return { shape: entry.shape, values };
}

const MAGIC = "MNK1";

// The server's message (live_reader.message, a Uint8Array): {model, official, network}, the
// network decoded with its arrays viewed in the message's own bytes where they are aligned.
export function decodeMessage(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length < 8) return {};
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) return {};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  if (header.network) {
    const start = 8 + length;
    const count = Math.floor((bytes.length - start) / 4);
    const floats =
      (bytes.byteOffset + start) % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset + start, count)
        : new Float32Array(bytes.slice(start, start + 4 * count).buffer);
    header.network = decodeNetwork(header.network, floats);
  }
  return header;
}

// A network from to_binary's layout and ``floats``, the values of its arrays.
function decodeNetwork(payload, floats) {
  return {
    family: payload.family,
    inputScale: payload.input_scale,
    inputShape: payload.input_shape,
    normaliseOutput: payload.normalise_output,
    layers: payload.layers.map((entry) => ({
      kind: entry.kind,
      activation: entry.activation || "linear",
      padding: entry.padding || "valid",
      pool: entry.pool || 2,
      weights: entry.weights ? unpack(entry.weights, floats) : null,
      biases: entry.biases ? unpack(entry.biases, floats).values : null,
    })),
  };
}

function activate(values, name) {
  if (name === "relu") for (let i = 0; i < values.length; i++) values[i] = Math.max(values[i], 0);
  else if (name === "tanh") for (let i = 0; i < values.length; i++) values[i] = Math.tanh(values[i]);
  else if (name === "sigmoid") {
    for (let i = 0; i < values.length; i++) values[i] = 0.5 * (1 + Math.tanh(0.5 * values[i]));
  } else if (name === "softmax") {
    let top = -Infinity, total = 0;
    for (const v of values) top = Math.max(top, v);
    for (let i = 0; i < values.length; i++) total += values[i] = Math.exp(values[i] - top);
    for (let i = 0; i < values.length; i++) values[i] /= total;
  }
  return values;
}

function dense(layer, inputs) {
  const [count, outputs] = layer.weights.shape;
  const weights = layer.weights.values;
  const out = Float64Array.from(layer.biases);
  for (let i = 0; i < count; i++) {
    const x = inputs[i];
    if (x === 0) continue; // most of a drawing is empty paper
    const row = i * outputs;
    for (let j = 0; j < outputs; j++) out[j] += x * weights[row + j];
  }
  return out;
}

function convolve(layer, inputs, shape) {
  const [height, width, channels] = shape;
  const [kh, kw, inChannels, outChannels] = layer.weights.shape;
  const weights = layer.weights.values;
  const top = layer.padding === "same" ? (kh - 1) >> 1 : 0;
  const left = layer.padding === "same" ? (kw - 1) >> 1 : 0;
  const rows = layer.padding === "same" ? height : height - kh + 1;
  const columns = layer.padding === "same" ? width : width - kw + 1;
  if (channels !== inChannels) throw new Error("conv2d: wrong number of input channels");
  const out = new Float64Array(rows * columns * outChannels);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const base = (r * columns + c) * outChannels;
      for (let o = 0; o < outChannels; o++) out[base + o] = layer.biases[o];
      for (let k = 0; k < kh; k++) {
        const y = r + k - top;
        if (y < 0 || y >= height) continue;
        for (let l = 0; l < kw; l++) {
          const x = c + l - left;
          if (x < 0 || x >= width) continue;
          const input = (y * width + x) * channels;
          const kernel = (k * kw + l) * inChannels * outChannels;
          for (let i = 0; i < inChannels; i++) {
            const v = inputs[input + i];
            if (v === 0) continue;
            const w = kernel + i * outChannels;
            for (let o = 0; o < outChannels; o++) out[base + o] += v * weights[w + o];
          }
        }
      }
    }
  }
  return { values: out, shape: [rows, columns, outChannels] };
}

function maxPool(layer, inputs, shape) {
  const [height, width, channels] = shape;
  const size = layer.pool;
  const rows = Math.floor(height / size), columns = Math.floor(width / size);
  const out = new Float64Array(rows * columns * channels).fill(-Infinity);
  for (let r = 0; r < rows * size; r++) {
    for (let c = 0; c < columns * size; c++) {
      const target = (Math.floor(r / size) * columns + Math.floor(c / size)) * channels;
      const source = (r * width + c) * channels;
      for (let ch = 0; ch < channels; ch++) {
        if (inputs[source + ch] > out[target + ch]) out[target + ch] = inputs[source + ch];
      }
    }
  }
  return { values: out, shape: [rows, columns, channels] };
}

export function forward(network, pixels) {
  // Every layer's output for one 28x28 image (0-255): the last one is the ten probabilities.
  let values = Float64Array.from(pixels, (v) => v * network.inputScale);
  let shape = network.inputShape.length === 3 ? network.inputShape.slice() : [values.length];
  const outputs = [values];
  for (const layer of network.layers) {
    if (layer.kind === "dense") {
      values = activate(dense(layer, values), layer.activation);
      shape = [values.length];
    } else if (layer.kind === "conv2d") {
      ({ values, shape } = convolve(layer, values, shape));
      activate(values, layer.activation);
    } else if (layer.kind === "maxpool2d") {
      ({ values, shape } = maxPool(layer, values, shape));
    } else {
      shape = [values.length]; // flatten: (height, width, channels) is already in that order
    }
    outputs.push(values);
  }
  if (network.normaliseOutput) {
    const total = Math.max(values.reduce((a, b) => a + b, 0), Number.MIN_VALUE);
    outputs[outputs.length - 1] = values.map((v) => v / total);
  }
  return outputs;
}

// --- the pen: streamlit-drawable-canvas's Fabric.js canvases -------------------------------------

function findPen() {
  // The pen's canvases sit in an open shadow root inside the draw_canvas container.
  const box = document.querySelector(".st-key-draw_canvas");
  if (!box) return null;
  const roots = [box];
  for (const element of box.querySelectorAll("*")) if (element.shadowRoot) roots.push(element.shadowRoot);
  for (const root of roots) {
    const upper = root.querySelector("canvas.upper-canvas");
    const lower = upper?.parentElement?.querySelector("canvas.lower-canvas");
    if (upper && lower) return { upper, lower };
  }
  return null;
}

function readPen(pen, scratch) {
  // The finished strokes (lower canvas) and the one being drawn (upper canvas), on white.
  const { width, height } = pen.lower;
  if (scratch.width !== width || scratch.height !== height) {
    scratch.width = width;
    scratch.height = height;
  }
  const context = scratch.getContext("2d", { willReadFrequently: true });
  context.globalCompositeOperation = "source-over";
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, width, height);
  context.drawImage(pen.lower, 0, 0, width, height);
  context.drawImage(pen.upper, 0, 0, width, height);
  return context.getImageData(0, 0, width, height).data;
}

// --- the component ------------------------------------------------------------------------------

const NETWORKS = (globalThis.__mnistkitLiveNetworks ??= new Map()); // survives remounts
const READERS = new WeakMap();

function signedColour(value, scale) {
  // Red where positive (ink counts for), blue where negative, as the page's evidence maps.
  const t = Math.min(1, Math.abs(value) / (scale || 1));
  const fade = Math.round(255 * (1 - t));
  return value >= 0 ? [255, fade, fade] : [fade, fade, 255];
}

function paint(canvas, width, height, colourOf) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = colourOf(i);
    image.data.set([r, g, b, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

class Reader {
  constructor(parent) {
    this.root = parent.querySelector(".lr-root");
    this.scratch = document.createElement("canvas");
    this.pen = null;
    this.down = false;
    this.frame = 0;
    this.timer = 0;
    this.nextRead = 0;
    this.network = null;
    this.modelKey = null;
    this.official = null;
    this.last = null;
    this.selectedUnit = null;
    this.build();
    this.listeners = {
      pointerdown: (event) => this.onPointer(event, true),
      pointermove: (event) => this.onPointer(event, null),
      pointerup: (event) => this.onRelease(event),
      pointercancel: (event) => this.onRelease(event),
    };
    for (const [name, listener] of Object.entries(this.listeners)) {
      document.addEventListener(name, listener, true);
    }
    this.watch = setInterval(() => this.checkPen(), 400);
    this.root.dataset.state = "waiting";
  }

  build() {
    const root = this.root;
    root.querySelector(".lr-off")?.remove();
    root.dataset.testid = "live-reading";
    root.setAttribute("data-testid", "live-reading");
    const head = element("div", "lr-head");
    this.digitEl = element("div", "lr-digit", "–");
    const words = element("div", "lr-words");
    this.titleEl = element("div", "lr-title", "Live reading: draw a digit");
    this.statusEl = element("div", "lr-status", "Worked out in your browser as the pen moves.");
    words.append(this.titleEl, this.statusEl);
    head.append(this.digitEl, words);
    const body = element("div", "lr-body");
    const seen = element("figure", "lr-seen");
    this.imageEl = element("canvas", "lr-image");
    this.imageEl.width = SIZE;
    this.imageEl.height = SIZE;
    seen.append(this.imageEl, element("figcaption", "", "What the network sees now (28x28)"));
    this.barsEl = element("div", "lr-bars");
    this.bars = [];
    for (let d = 0; d < 10; d++) {
      const row = element("div", "lr-bar");
      const fill = element("span", "lr-fill");
      const value = element("span", "lr-value", "");
      row.append(element("span", "lr-label", String(d)), element("span", "lr-track"), value);
      row.children[1].append(fill);
      this.barsEl.append(row);
      this.bars.push({ row, fill, value });
    }
    body.append(seen, this.barsEl);
    this.officialEl = element("p", "lr-official", "");
    this.insideEl = element("div", "lr-inside");
    root.append(head, body, this.officialEl, this.insideEl);
  }

  update(data, setTriggerValue) {
    this.setTriggerValue = setTriggerValue;
    if (data.network) {
      NETWORKS.set(data.model, data.network);
      while (NETWORKS.size > 4) NETWORKS.delete(NETWORKS.keys().next().value);
    }
    const network = NETWORKS.get(data.model) ?? null;
    if (!network && data.model) {
      this.statusEl.textContent = "Fetching the network's weights…";
      const now = performance.now();
      if (this.askedFor !== data.model || now - this.askedAt > 3000) {
        this.askedFor = data.model;
        this.askedAt = now;
        setTriggerValue("need_network", data.model);
      }
    }
    if (network !== this.network) {
      this.network = network;
      this.modelKey = data.model;
      this.selectedUnit = null;
      this.buildInside();
      this.schedule();
    }
    this.official = data.official ?? null;
    this.showOfficial();
  }

  checkPen() {
    if (this.pen && this.pen.lower.isConnected) return;
    const pen = findPen();
    if (pen === null && this.pen === null) return;
    this.pen = pen; // a new canvas (after Clear, say): read it afresh
    this.schedule();
  }

  onPointer(event, down) {
    const target = event.composedPath()[0];
    if (!(target instanceof HTMLCanvasElement) || !target.classList.contains("upper-canvas")) {
      if (down === null && this.down) this.schedule();
      return;
    }
    if (!target.closest(".canvas-container") || !this.isOurPen(target)) return;
    if (down) this.down = true;
    if (this.down || down) this.schedule();
  }

  isOurPen(upper) {
    if (!this.pen || this.pen.upper !== upper) this.pen = findPen();
    return this.pen !== null && this.pen.upper === upper;
  }

  onRelease() {
    if (!this.down) return;
    this.down = false;
    // Fabric turns the stroke into a path and redraws on its next frame: read after it.
    requestAnimationFrame(() => requestAnimationFrame(() => this.schedule()));
    setTimeout(() => this.schedule(), 250);
  }

  schedule() {
    if (this.frame || this.timer) return;
    const wait = this.nextRead - performance.now();
    if (wait > 0) {
      // too soon after the last reading: read once the gap has passed (the pen's latest state)
      this.timer = setTimeout(() => {
        this.timer = 0;
        this.schedule();
      }, wait);
      return;
    }
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.read();
    });
  }

  read() {
    if (!this.pen || !this.pen.lower.isConnected) this.pen = findPen();
    if (!this.pen || !this.network) return;
    const started = performance.now();
    const rgba = readPen(this.pen, this.scratch);
    const pixels = toMnist(rgba, this.pen.lower.width, this.pen.lower.height);
    const outputs = pixels === null ? null : forward(this.network, pixels);
    const ms = performance.now() - started;
    this.nextRead = started + Math.max(MIN_GAP, (1 + BUSY_SHARE) * ms);
    this.last = pixels === null ? null : { pixels, outputs };
    this.show(ms);
  }

  show(ms) {
    const root = this.root;
    root.dataset.ms = ms.toFixed(3);
    if (this.last === null) {
      root.dataset.state = "blank";
      for (const name of ["digit", "probabilities", "image"]) delete root.dataset[name];
      this.digitEl.textContent = "–";
      this.titleEl.textContent = "Live reading: draw a digit";
      this.statusEl.textContent = "Worked out in your browser as the pen moves.";
      this.imageEl.getContext("2d").clearRect(0, 0, SIZE, SIZE);
      for (const bar of this.bars) {
        bar.fill.style.width = "0%";
        bar.value.textContent = "";
      }
      this.showInside();
      this.showOfficial();
      return;
    }
    const { pixels, outputs } = this.last;
    const probabilities = Array.from(outputs[outputs.length - 1]);
    const digit = probabilities.indexOf(Math.max(...probabilities));
    root.dataset.state = this.down ? "drawing" : "live";
    root.dataset.digit = String(digit);
    root.dataset.probabilities = JSON.stringify(probabilities.map((p) => +p.toFixed(6)));
    root.dataset.image = Array.from(pixels).join(",");
    this.digitEl.textContent = String(digit);
    this.titleEl.textContent = `Live reading: ${digit} (${Math.round(100 * probabilities[digit])}% sure)`;
    this.statusEl.textContent = `Worked out in your browser in ${ms.toFixed(1)} ms.`;
    paint(this.imageEl, SIZE, SIZE, (i) => [pixels[i], pixels[i], pixels[i]]);
    probabilities.forEach((p, d) => {
      this.bars[d].fill.style.width = `${(100 * p).toFixed(1)}%`;
      this.bars[d].value.textContent = `${Math.round(100 * p)}%`;
      this.bars[d].row.classList.toggle("lr-best", d === digit);
    });
    this.showInside();
    this.showOfficial();
  }

  showOfficial() {
    const official = this.official;
    const root = this.root;
    if (!official) {
      for (const name of ["officialDigit", "officialProbabilities", "officialImage"]) {
        delete root.dataset[name];
      }
      this.officialEl.textContent =
        "The official answer is the server's (under Prediction), given each time you lift the pen.";
      return;
    }
    root.dataset.officialDigit = String(official.digit);
    root.dataset.officialProbabilities = JSON.stringify(official.probabilities);
    root.dataset.officialImage = official.image.join(",");
    const live = root.dataset.digit;
    let verdict = "";
    if (this.down) verdict = " You are still drawing, so the live reading may run ahead of it.";
    else if (live === String(official.digit)) verdict = " The live reading agrees.";
    else if (live !== undefined) {
      verdict = ` The live reading says ${live}: trust the server's answer, which is the official one.`;
    }
    this.officialEl.textContent =
      `Official answer (the server's, when the pen lifted): ${official.digit}.` + verdict;
  }

  // --- inside the network ---------------------------------------------------------------------

  buildInside() {
    const inside = this.insideEl;
    inside.replaceChildren();
    this.inside = null;
    const network = this.network;
    if (!network) return;
    const first = network.layers[0];
    const flatInput = first?.kind === "dense" && first.weights.shape[0] === SIZE * SIZE;
    if (flatInput && network.layers.length === 1) this.buildEvidence(inside, first);
    else if (flatInput && network.layers.length > 1) this.buildHidden(inside, network);
    else {
      inside.append(
        element(
          "p",
          "lr-note",
          "This network starts with convolutions: its live reading is above, and its feature " +
            "maps are in the sections further down the page.",
        ),
      );
    }
  }

  buildEvidence(inside, layer) {
    inside.append(
      element("h4", "", "Inside the linear net: each digit's evidence, live"),
      element(
        "p",
        "lr-note",
        "Each small map is one digit's score, pixel by pixel: your ink times that pixel's " +
          "weight. Red ink adds to the digit's score, blue ink takes away; the digit with the " +
          "highest total wins.",
      ),
    );
    const grid = element("div", "lr-evidence");
    const maps = [];
    for (let d = 0; d < 10; d++) {
      const cell = element("figure", "lr-map");
      const canvas = element("canvas", "lr-map-image");
      canvas.width = SIZE;
      canvas.height = SIZE;
      const caption = element("figcaption", "", String(d));
      cell.append(canvas, caption);
      grid.append(cell);
      maps.push({ cell, canvas, caption });
    }
    inside.append(grid);
    this.inside = { kind: "evidence", layer, maps };
  }

  buildHidden(inside, network) {
    const layer = network.layers[0];
    const units = layer.weights.shape[1];
    const columns = Math.ceil(Math.sqrt(units));
    inside.append(
      element("h4", "", `Inside the network: its first ${units} hidden units, live`),
      element(
        "p",
        "lr-note",
        "Each square is one hidden unit; the brighter it is, the more your drawing switches it " +
          "on (the brightest unit is white). Point at or tap a unit to see the pattern of ink " +
          "it looks for and the digits it votes for" +
          (network.layers.length > 2
            ? " (through the later layers, counted as if they added straight through)."
            : "."),
      ),
    );
    const grid = element("canvas", "lr-units");
    grid.width = columns;
    grid.height = Math.ceil(units / columns);
    grid.style.aspectRatio = `${grid.width} / ${grid.height}`;
    const detail = element("div", "lr-unit");
    const weights = element("canvas", "lr-unit-weights");
    weights.width = SIZE;
    weights.height = SIZE;
    const words = element("div", "lr-unit-words");
    detail.append(weights, words);
    inside.append(grid, detail);
    const pick = (event) => {
      const box = grid.getBoundingClientRect();
      const x = Math.floor(((event.clientX - box.left) / box.width) * grid.width);
      const y = Math.floor(((event.clientY - box.top) / box.height) * grid.height);
      const unit = y * grid.width + x;
      if (unit >= 0 && unit < units && x >= 0 && x < grid.width) {
        this.selectedUnit = unit;
        this.pickedByLearner = true;
        this.showInside();
      }
    };
    grid.addEventListener("pointermove", pick);
    grid.addEventListener("pointerdown", pick);
    this.inside = { kind: "hidden", layer, units, grid, weights, words, pushes: pushes(network) };
    this.selectedUnit = 0;
    this.pickedByLearner = false;
    this.showUnit();
  }

  showInside() {
    const inside = this.inside;
    if (!inside) return;
    const outputs = this.last?.outputs ?? null;
    if (inside.kind === "evidence") {
      const { layer, maps } = inside;
      const pixels = outputs ? outputs[0] : new Float64Array(SIZE * SIZE);
      const weights = layer.weights.values;
      let largest = 1e-9;
      const evidence = maps.map((_, d) => {
        const values = new Float64Array(SIZE * SIZE);
        for (let i = 0; i < SIZE * SIZE; i++) {
          values[i] = pixels[i] * weights[i * 10 + d];
          largest = Math.max(largest, Math.abs(values[i]));
        }
        return values;
      });
      const scores = outputs ? dense(layer, pixels) : null;
      const best = scores ? scores.indexOf(Math.max(...scores)) : -1;
      maps.forEach(({ cell, canvas, caption }, d) => {
        paint(canvas, SIZE, SIZE, (i) => signedColour(evidence[d][i], largest));
        caption.textContent = scores ? `${d}: score ${scores[d].toFixed(1)}` : String(d);
        cell.classList.toggle("lr-best", d === best);
      });
      return;
    }
    const { grid, units } = inside;
    const hidden = outputs ? outputs[1] : new Float64Array(units);
    let largest = 1e-9;
    for (const v of hidden) largest = Math.max(largest, v);
    if (!this.pickedByLearner && outputs) this.selectedUnit = hidden.indexOf(Math.max(...hidden));
    paint(grid, grid.width, grid.height, (i) => {
      if (i >= units) return [40, 40, 48];
      const shade = Math.round(255 * Math.max(0, Math.min(1, hidden[i] / largest)));
      return i === this.selectedUnit ? [255, 200, 0] : [shade, shade, shade];
    });
    this.showUnit();
  }

  showUnit() {
    const inside = this.inside;
    if (!inside || inside.kind !== "hidden" || this.selectedUnit === null) return;
    const { layer, weights, words, pushes: votes } = inside;
    const unit = this.selectedUnit;
    const outputs = layer.weights.shape[1];
    let largest = 1e-9;
    for (let i = 0; i < SIZE * SIZE; i++) {
      largest = Math.max(largest, Math.abs(layer.weights.values[i * outputs + unit]));
    }
    paint(weights, SIZE, SIZE, (i) => signedColour(layer.weights.values[i * outputs + unit], largest));
    const order = Array.from(votes[unit].keys()).sort((a, b) => votes[unit][b] - votes[unit][a]);
    const activation = this.last ? this.last.outputs[1][unit] : 0;
    const format = (d) => `${d} (${votes[unit][d] >= 0 ? "+" : ""}${votes[unit][d].toFixed(2)})`;
    words.replaceChildren(
      element("strong", "", `Unit ${unit + 1}: activation ${activation.toFixed(2)}`),
      element(
        "span",
        "",
        "Its 784 incoming weights, as a 28x28 picture: ink on red pixels switches it on, " +
          "ink on blue ones switches it off.",
      ),
      element("span", "", `When on, it pushes up ${order.slice(0, 3).map(format).join(", ")}.`),
      element("span", "", `It pushes down ${order.slice(-3).reverse().map(format).join(", ")}.`),
    );
  }

  destroy() {
    for (const [name, listener] of Object.entries(this.listeners)) {
      document.removeEventListener(name, listener, true);
    }
    clearInterval(this.watch);
    if (this.frame) cancelAnimationFrame(this.frame);
    if (this.timer) clearTimeout(this.timer);
  }
}

function pushes(network) {
  // For each first-layer unit, how much one unit of its activation moves each digit's score:
  // the weights to the output when it feeds it directly, else the product of the later weight
  // matrices (a straight-line estimate that ignores the later units' activations).
  const dense = network.layers.slice(1).filter((layer) => layer.kind === "dense");
  let rows = null;
  for (const layer of dense) {
    const [inputs, outputs] = layer.weights.shape;
    const w = layer.weights.values;
    if (rows === null) {
      rows = Array.from({ length: inputs }, (_, i) => Float64Array.from(w.subarray(i * outputs, (i + 1) * outputs)));
      continue;
    }
    rows = rows.map((row) => {
      const out = new Float64Array(outputs);
      row.forEach((v, i) => {
        for (let j = 0; j < outputs; j++) out[j] += v * w[i * outputs + j];
      });
      return out;
    });
  }
  return rows.map((row) => Array.from(row));
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let reader = READERS.get(parentElement);
  if (!reader) {
    reader = new Reader(parentElement);
    READERS.set(parentElement, reader);
  }
  let message = {};
  try {
    message = decodeMessage(data);
  } catch (error) {
    console.warn("mnistkit live reader: a message it could not read", error);
  }
  reader.update(message, setTriggerValue);
  reader.checkPen();
  return () => {
    reader.destroy();
    READERS.delete(parentElement);
  };
}
