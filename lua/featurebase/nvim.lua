--- featurebase.nvim: the async calls on Neovim's own event loop, so the editor never freezes.
--
-- Watches libcurl's sockets (through one epoll fd on Linux, else one luv poll each) and curl's
-- timeout with a luv timer, and acts on them with the engine: nothing ever blocks. Callbacks
-- run through vim.schedule, so they may call any vim.api function; an error they raise is
-- reported by Neovim like any other.
--
--   local fbn = require("featurebase.nvim")
--   local client = assert(fbn.new{ api_key = os.getenv("FEATUREBASE_API_KEY") })
--   client:reply_async("42", { type = "admin", id = admin_id, bodyMarkdown = text, messageType = "note" },
--     function(part, err) vim.notify(err and tostring(err) or "sent") end)
--
-- The loop's handles refer to the client: close() it when done (a plugin keeps one per session).
-- Works with Neovim 0.7 and later (LuaJIT: featurebase.core must be built for LuaJIT).
--
-- @module featurebase.nvim
local async = require("featurebase.async")

local M = {}

local unpack = table.unpack or unpack ---@diagnostic disable-line: deprecated

--- Makes the client's async calls (every `*_async` method, map_async) run on Neovim's loop.
-- Idempotent. The blocking forms, client:run() and client:map() then refuse to block the editor.
---@param client featurebase.Client
---@return featurebase.Client client
function M.attach(client)
  local s = async.scheduler(client)
  if s.driver then return client end
  local uv = vim.uv or vim.loop
  local engine = s.engine
  local timer = uv.new_timer()
  local polls = {} -- fd -> luv poll handle
  local sync

  -- After every action: hand over results, then watch what curl wants now.
  local function turn()
    s:pump()
    sync()
  end

  -- Where epoll exists (Linux), the loop watches one fd, an epoll set the engine keeps in step with
  -- curl's sockets: a failed socket never reaches luv, whose poll watchers print every socket
  -- error ("EBADF: bad file descriptor") on the user's screen. The call gets the error as its value.
  local ok_fd, efd = pcall(engine.event_fd, engine)
  if ok_fd and efd then
    local ep = uv.new_poll(efd)
    ep:start("r", function()
      engine:events_action()
      turn()
    end)
    polls[efd] = ep
  else
    efd = nil
  end

  -- Elsewhere, one luv poll per socket of curl's, which curl finds out about by reading and writing.
  local function on_socket(fd)
    return function(err, events)
      local r = err ~= nil or (events or ""):find("r", 1, true) ~= nil
      local w = err ~= nil or (events or ""):find("w", 1, true) ~= nil
      engine:socket_action(fd, r, w)
      turn()
    end
  end

  -- Watches fd for curl; a socket luv cannot watch is handed back to curl at once instead.
  local function watch(fd, what)
    local p = polls[fd]
    if not p then
      p = uv.new_socket_poll(fd)
      if not p then
        vim.schedule(function() on_socket(fd)("EBADF") end)
        return
      end
      polls[fd] = p
    end
    local ok, started = pcall(p.start, p, what, on_socket(fd))
    if not (ok and started) then vim.schedule(function() on_socket(fd)("EBADF") end) end
  end

  local function on_timer()
    if engine:timeout() == 0 then engine:timeout_action() end
    turn()
  end

  function sync()
    for _, ch in ipairs(efd and {} or engine:sockets()) do
      local p = polls[ch.fd]
      if ch.what == "remove" then
        -- stopped before the next change: curl may reuse this fd number for a new socket
        if p then
          p:stop()
          p:close()
          polls[ch.fd] = nil
        end
      else
        watch(ch.fd, ch.what)
      end
    end
    local ms = engine:timeout()
    local wait = s:next_wait()
    if wait then
      wait = math.ceil(wait * 1000)
      ms = ms and math.min(ms, wait) or wait
    end
    timer:stop()
    if ms then timer:start(ms, 0, on_timer) end
  end

  s.driver = "Neovim's loop (featurebase.nvim)"
  s.wake = sync
  s.deliver = function(callback, ...)
    local n, args = select("#", ...), { ... }
    vim.schedule(function() callback(unpack(args, 1, n)) end)
  end
  s.on_close = function()
    timer:stop()
    timer:close()
    for fd, p in pairs(polls) do
      p:stop()
      p:close()
      polls[fd] = nil
    end
  end
  return client
end

--- featurebase.new(opts), attached to Neovim's loop.
---@param opts? featurebase.Options
---@return featurebase.Client|nil client
---@return featurebase.Error|nil err
function M.new(opts)
  local client, err = require("featurebase").new(opts)
  if not client then return nil, err end
  return M.attach(client)
end

return M
