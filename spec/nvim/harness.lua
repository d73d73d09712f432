--- Shared by the scripts in spec/nvim/, which the specs run inside `nvim --headless -u NONE`: they
-- print key=value lines on stdout (each on lines of its own, as messages share stdout; newlines in
-- a value escaped) and end Neovim with the outcome, exit code 3 and error=... when they raised.
local M = {}

function M.out(k, v) io.stdout:write("\n", k, "=", (tostring(v):gsub("\n", "\\n")), "\n") end

-- Runs fn, then quits Neovim with `quit` (default "qall!"), or with exit code 3 if fn raised.
function M.run(fn, quit)
  local ok, err = pcall(fn)
  if not ok then
    M.out("error", err)
    vim.cmd("cquit 3")
  end
  vim.cmd(quit or "qall!")
end

return M
