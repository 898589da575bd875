// Keeps (or forgets) the class-mode learner token in a first-party cookie.
// In:  data = {name, value, maxAge}; value "" with maxAge 0 forgets the cookie.
// Out: nothing. The server reads the cookie with st.context.cookies on the next visit.
export default function (component) {
  const { data, parentElement } = component;
  if (!data || typeof data.name !== "string" || !/^[A-Za-z0-9_]+$/.test(data.name)) return;
  const value = typeof data.value === "string" ? data.value : "";
  if (!/^[A-Za-z0-9_-]*$/.test(value)) return;
  const maxAge = Number.isFinite(data.maxAge) ? Math.max(0, Math.floor(data.maxAge)) : 0;
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie =
    `${data.name}=${value}; Max-Age=${maxAge}; Path=/; SameSite=Lax${secure}`;
  const mark = parentElement.querySelector("[data-testid='learner-cookie']");
  if (mark) mark.setAttribute("data-state", value ? "kept" : "forgotten");
}
