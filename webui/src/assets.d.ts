// esbuild's "text" loader hands an imported SVG over as its source text.
declare module "*.svg" {
  const text: string;
  export default text;
}
