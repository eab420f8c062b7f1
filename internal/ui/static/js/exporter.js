// Export the picture as a file: the SVG as drawn (it carries its own
// colours), or a PNG rendered from it at twice the size.

function download(href, name) {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

function serialize(svg) {
  const clone = svg.cloneNode(true);
  // The editing controls are the page's, not the picture's.
  for (const el of clone.querySelectorAll(".ctl")) el.remove();
  clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
}

export function fileName(policy, ext) {
  return "palisade-" + policy.replace(/[^A-Za-z0-9._-]+/g, "_") + "." + ext;
}

export function exportSVG(svg, name) {
  const url = URL.createObjectURL(new Blob([serialize(svg)], { type: "image/svg+xml" }));
  download(url, name);
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function exportPNG(svg, name) {
  return new Promise((resolve, reject) => {
    const w = Number(svg.getAttribute("width"));
    const hgt = Number(svg.getAttribute("height"));
    const url = URL.createObjectURL(new Blob([serialize(svg)], { type: "image/svg+xml" }));
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = w * 2;
      canvas.height = hgt * 2;
      const ctx = canvas.getContext("2d");
      ctx.scale(2, 2);
      ctx.drawImage(img, 0, 0, w, hgt);
      URL.revokeObjectURL(url);
      canvas.toBlob((blob) => {
        if (!blob) return reject(new Error("PNG encoding failed"));
        const out = URL.createObjectURL(blob);
        download(out, name);
        setTimeout(() => URL.revokeObjectURL(out), 10000);
        resolve();
      }, "image/png");
    };
    img.onerror = () => reject(new Error("the SVG could not be rendered"));
    img.src = url;
  });
}
