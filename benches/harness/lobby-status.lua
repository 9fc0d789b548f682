-- wrk script: a queued visitor polling /_vestibule/status, as the waiting
-- page's script does. The first answer hands out a ticket, the first poll
-- checks it in; every later poll is answered from the cached view.
local ticket = nil
request = function()
  if ticket == nil then
    return wrk.format("GET", "/", { ["Accept"] = "application/json" })
  end
  return wrk.format("GET", "/_vestibule/status?room=bench", { ["Cookie"] = ticket })
end
response = function(status, headers, body)
  local sc = headers["Set-Cookie"] or headers["set-cookie"]
  if sc ~= nil then
    ticket = sc:match("^([^;]+)")
  end
end
