// Small DOM helpers shared by the views; every customer-supplied string goes in as text, never as HTML.

// h("td", {class: "x"}, "text", child) builds an element; "on*" attributes become listeners.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// The demo notice, shown the way the text shows it: first, and impossible to miss.
export function notice(data) {
  return data?.notice ? h("p", { class: "notice", role: "note" }, data.notice) : null;
}

// A failed call: the tool's own message, which says what to do.
export function errorState(message) {
  return h("div", { class: "state error", role: "alert" }, h("strong", {}, "Could not load"), h("p", {}, message));
}

export function emptyState(message) {
  return h("div", { class: "state empty", role: "status" }, message);
}

export function loadingState() {
  return h("div", { class: "state loading", role: "status" }, "Loading…");
}

// Replace the content of `root` with `children`.
export function show(root, ...children) {
  root.replaceChildren(...children.flat(Infinity).filter(Boolean));
}
