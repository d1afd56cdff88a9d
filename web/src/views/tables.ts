// A table from rows and column specs; cells are text or elements.

import { h } from "../dom.js";

export interface Column<T> {
  title: string;
  cell: (row: T) => string | Node;
  cls?: (row: T) => string;
}

export function table<T>(rows: T[], columns: Column<T>[], empty: string, key?: (row: T) => string): HTMLElement {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("table", {},
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c.title)))),
    h("tbody", {}, ...rows.map((row) =>
      h("tr", key ? { "data-key": key(row) } : {},
        ...columns.map((c) => h("td", { class: c.cls?.(row) ?? "" }, c.cell(row)))))));
}

export function sideClass(side: string | undefined): string {
  return side === "BUY" ? "up" : side === "SELL" ? "down" : "";
}
