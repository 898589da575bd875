// The answer's ten probabilities as bars: one row per digit, its share of 100% as the bar's
// length and as a number, the chosen digit in dark ink, a dashed line at 10% (a blind guess).
// Plain DOM: no charting library, so the Draw page never loads one for its answer.

function build(root) {
  const title = document.createElement("p");
  title.className = "ab-title";
  title.textContent = "How sure the model is of each digit (% of 100); the dashed line is 10%, a blind guess.";
  const rows = document.createElement("div");
  rows.className = "ab-rows";
  const bars = [];
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement("div");
    row.className = "ab-row";
    const label = document.createElement("span");
    label.className = "ab-label";
    label.textContent = String(digit);
    const track = document.createElement("span");
    track.className = "ab-track";
    const fill = document.createElement("span");
    fill.className = "ab-fill";
    const chance = document.createElement("span");
    chance.className = "ab-chance";
    track.append(fill, chance);
    const value = document.createElement("span");
    value.className = "ab-value";
    row.append(label, track, value);
    rows.append(row);
    bars.push({ row, fill, value });
  }
  root.append(title, rows);
  return bars;
}

const BARS = new WeakMap();

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".ab-root");
  if (!root) return;
  let bars = BARS.get(root);
  if (!bars) {
    bars = build(root);
    BARS.set(root, bars);
  }
  const probabilities = (data && data.probabilities) || [];
  const best = probabilities.indexOf(Math.max(...probabilities));
  const said = [];
  bars.forEach((bar, digit) => {
    const percent = 100 * (probabilities[digit] ?? 0);
    bar.fill.style.width = `${Math.min(100, percent).toFixed(1)}%`;
    bar.value.textContent = `${percent.toFixed(percent >= 0.05 && percent < 1 ? 1 : 0)}%`;
    bar.row.classList.toggle("ab-best", digit === best);
    said.push(`${digit}: ${Math.round(percent)}%`);
  });
  root.dataset.best = String(best);
  root.setAttribute("aria-label", `How sure the model is of each digit. ${said.join(", ")}.`);
}
