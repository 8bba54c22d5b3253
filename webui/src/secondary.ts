// The secondary chunk: every component that is not needed to show the PR table
// and its actions at first paint. tr-app imports it dynamically (build.mjs
// splits it into its own file): once the first status has been rendered, at the
// browser's next idle moment, and at once when one of them is asked for first
// (a key, a click), so opening them later is instant.
import "./tr-build-result.js";
import "./tr-confirm-deploy.js";
import "./tr-feature-flags.js";
import "./tr-history.js";
import "./tr-shortcuts.js";
import "./tr-system-info.js";
