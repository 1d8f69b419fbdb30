/**
 * npm runs a script as `sh -c "<command>"` and passes SIGTERM and SIGINT on to that shell only. dash (Debian's
 * sh) passes neither on: it dies of SIGTERM, leaving its command under init, and on SIGINT it waits for its
 * command, which never hears of it. So `npm start` and `npm run cluster` are `exec node ...`: the shell becomes
 * the script, and npm's signals reach it. What npm cannot pass on is its own end (SIGKILL, or npm dying
 * otherwise): a script that should stop with npm calls this, and `onGone` runs once the parent that npm started
 * it as is gone. Outside `npm run <script>` it does nothing, so a script started directly (say under nohup)
 * does not care what happens to its parent.
 */
const CHECK_MS = 200;

export function whenNpmParentGone(script, onGone) {
  if (process.env.npm_lifecycle_event !== script) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, CHECK_MS);
  timer.unref();
}
