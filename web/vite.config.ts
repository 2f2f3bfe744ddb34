// Builds the UI into the Python package (src/clearland/web/static/), which `clearland serve`
// serves: index.html at / (for browsers) and the hashed assets under /ui/.
import { defineConfig } from "vite";

export default defineConfig({
  // relative URLs: the app works at / and behind a proxy that serves it under a path prefix
  base: "./",
  build: {
    // relative to this folder (Vite's root)
    outDir: "../src/clearland/web/static",
    emptyOutDir: true,
    assetsDir: "ui",
    // no inlined data: URLs for assets; everything is a file served by the app
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2020",
    chunkSizeWarningLimit: 1024,
  },
});
