{#-
  Each current value is the latest change of its property in the object history, and every
  property's latest change has its current value.
-#}
with latest as (

    select change_id, new_value, action_type
    from {{ ref('lp_audittrail__object_history') }}
    where is_field_change and is_current_value

),

current_values as (

    select last_change_id, current_value, is_deleted
    from {{ ref('lp_audittrail__current_values') }}

)

select latest.change_id, current_values.last_change_id
from latest
full outer join current_values on current_values.last_change_id = latest.change_id
where latest.change_id is null
    or current_values.last_change_id is null
    or (not current_values.is_deleted and not {{ lp_audittrail_null_safe_equal('current_values.current_value', 'latest.new_value') }})
    or (current_values.is_deleted and current_values.current_value is not null)
